# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers: what Linux's /proc says of a process."""

from __future__ import annotations

from typing import Any


def stat_fields(pid: Any) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the program's name, the state first (field 3 of
    proc(5): index 0 is the state, 2 the process group, 19 the start in clock ticks since boot).
    The name (field 2, in parentheses) may hold spaces and parentheses: the fields are counted
    from its last closing one. None where /proc does not say (no such process, or not Linux)."""
    try:
        with open(f"/proc/{int(pid)}/stat", encoding="utf-8", errors="replace") as handle:
            stat = handle.read()
    except (OSError, TypeError, ValueError):
        return None
    return stat.rsplit(")", 1)[-1].split() if ")" in stat else None
