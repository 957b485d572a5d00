# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Record how long every play (phase) and every host in it took, for the release report."""

from __future__ import annotations

DOCUMENTATION = r"""
name: phase_timer
type: aggregate
short_description: Write the duration of every phase and host of a run to a JSON file
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
description:
  - Each play of the collection's playbooks is a phase of the upgrade. This callback records, per play,
    its wall time and, per host, the time from the host's first task to its last, and rewrites a JSON
    file after every play so that a later play of the same run (the release report) can read it.
requirements:
  - enable in ansible.cfg (C(callbacks_enabled = intelgraph.ops.phase_timer)); the project's ansible.cfg does
options:
  output:
    description: The JSON file written.
    type: path
    default: reports/run-timings.json
    env:
      - name: INTELGRAPH_TIMINGS_FILE
    ini:
      - section: intelgraph_phase_timer
        key: output
"""

import json
import os
import time
from typing import Any

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "intelgraph.ops.phase_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.started = time.time()
        self.phases: list[dict[str, Any]] = []
        self.current: dict[str, Any] | None = None
        self.task_started: dict[str, float] = {}

    def _path(self) -> str:
        return os.path.abspath(self.get_option("output"))

    def _close_current(self) -> None:
        if self.current is not None:
            self.current["end"] = time.time()
            self.current["seconds"] = round(self.current["end"] - self.current["start"], 3)
            self.current = None

    def _write(self) -> None:
        path = self._path()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        rows = []
        for phase in self.phases:
            rows.append({"phase": phase["name"], "host": None, "seconds": phase.get("seconds")})
            for host, span in sorted(phase["hosts"].items()):
                rows.append({"phase": phase["name"], "host": host, "seconds": round(span[1] - span[0], 3)})
        document = {"started": self.started, "updated": time.time(), "phases": self.phases, "rows": rows}
        partial = path + ".partial"
        # Report data: only its owner reads it.
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # a partial file left by an older run keeps its mode otherwise
        with open(descriptor, "w") as handle:
            json.dump(document, handle, indent=2)
        os.replace(partial, path)

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._close_current()
        self.current = {"name": play.get_name().strip(), "start": time.time(), "hosts": {}, "seconds": None}
        self.phases.append(self.current)
        self._write()

    def v2_runner_on_start(self, host: Any, task: Any) -> None:
        self.task_started[host.get_name()] = time.time()

    def _task_done(self, result: Any) -> None:
        if self.current is None:
            return
        host = result._host.get_name()
        now = time.time()
        start = self.task_started.get(host, now)
        span = self.current["hosts"].setdefault(host, [start, now])
        span[0] = min(span[0], start)
        span[1] = max(span[1], now)

    def v2_runner_on_ok(self, result: Any) -> None:
        self._task_done(result)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._task_done(result)

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._task_done(result)

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._task_done(result)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._close_current()
        self._write()
