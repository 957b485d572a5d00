# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Action plugin of intelgraph.ops.maintenance_window: checks a phase against the window
(state=check) on the controller itself, by the controller's clock, with no module run; with
record_dir, keeps the checked window's record on the host the task runs on in the same task (one
module run, state=record). Every other state is the module's, run where the task runs."""

from __future__ import annotations

import time
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.intelgraph.ops.plugins.module_utils._window import (
    ARGUMENT_SPEC,
    REQUIRED_IF,
    check_result,
    failure,
)

MODULE = "intelgraph.ops.maintenance_window"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        if self._task.args.get("state") != "check":
            result.update(
                self._execute_module(MODULE, module_args=dict(self._task.args), task_vars=task_vars)
            )
            return result
        try:
            args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC, required_if=REQUIRED_IF)[1]
        except AnsibleActionFail as exc:
            result.update(failed=True, msg=str(exc))
            return result
        try:
            checked, refused = check_result(
                args["window"], args["phase"], args["expected_seconds"], time.time()
            )
        except (KeyError, TypeError, ValueError) as exc:  # WindowError among them
            result.update(failed=True, msg=failure(exc))
            return result
        result.update(checked)
        if refused:
            result.update(failed=True, msg=refused)
        elif args["record_dir"]:
            kept = self._execute_module(
                MODULE,
                module_args={
                    "state": "record",
                    "window": checked["record"]["window"],
                    "record_dir": self._task.args["record_dir"],
                },
                task_vars=task_vars,
            )
            if kept.get("failed"):
                result.update(failed=True, msg=kept.get("msg", "The window's record was not kept."))
        return result
