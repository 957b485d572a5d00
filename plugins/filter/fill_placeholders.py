# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Fill a release note's `[Awaiting Input: ...]` placeholders with measured values."""

from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError

PLACEHOLDER = re.compile(r"\[Awaiting Input:\s*([^\]]+?)\s*\]")


def placeholders(text: str) -> list[str]:
    """The labels of the placeholders left in a text, in order."""
    return [m.group(1) for m in PLACEHOLDER.finditer(text)]


def fill_placeholders(text: str, values: dict[str, Any], strict: bool = True) -> str:
    """Replace every `[Awaiting Input: label]` whose label is in values (case-insensitive).
    With strict (the default), a placeholder left unfilled is an error naming it."""
    by_label = {str(k).strip().lower(): v for k, v in values.items()}

    def substitute(match: re.Match[str]) -> str:
        value = by_label.get(match.group(1).strip().lower())
        return match.group(0) if value is None else str(value)

    filled = PLACEHOLDER.sub(substitute, text)
    left = placeholders(filled)
    if strict and left:
        raise AnsibleFilterError(f"fill_placeholders: no value for {', '.join(repr(x) for x in left)}")
    return filled


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"fill_placeholders": fill_placeholders, "placeholders": placeholders}
