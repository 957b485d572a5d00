# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Record when every task of a run started and when each host finished it (sandbox/bench)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: bench_task_timer
type: aggregate
short_description: Write every task's start and each host's end of it to a JSON file
description:
  - For sandbox/bench/bench.py, one entry per task as the strategy starts it (a task of a play under
    C(serial) starts once per batch), with its play, name, action, start time and, per host, the time
    its result arrived and its status (ok, changed, failed, skipped, unreachable).
  - Nothing else is recorded (no task arguments, no results), so nothing secret can reach the file.
options:
  output:
    description: The JSON file written at the end of the run.
    type: path
    env:
      - name: BENCH_TASKS_FILE
"""

import json
import os
import time
from typing import Any

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_task_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.started = time.time()
        self.play = ""
        self.tasks: list[dict[str, Any]] = []
        self.by_uuid: dict[str, dict[str, Any]] = {}

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self.play = play.get_name().strip()

    def _task_start(self, task: Any) -> None:
        entry = {
            "play": self.play,
            "name": task.get_name().strip(),
            "action": task.action,
            "start": time.time(),
            "hosts": {},
        }
        self.tasks.append(entry)
        self.by_uuid[task._uuid] = entry

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._task_start(task)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._task_start(task)

    def _done(self, result: Any, status: str) -> None:
        entry = self.by_uuid.get(result._task._uuid)
        if entry is not None:
            entry["hosts"][result._host.get_name()] = {"end": time.time(), "status": status}

    def v2_runner_on_ok(self, result: Any) -> None:
        self._done(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._done(result, "failed")

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._done(result, "skipped")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._done(result, "unreachable")

    def v2_playbook_on_stats(self, stats: Any) -> None:
        path = self.get_option("output")
        if not path:
            return
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as handle:
            json.dump({"started": self.started, "ended": time.time(), "tasks": self.tasks}, handle)
