# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Action plugin of intelgraph.ops.release_install: asks the host first whether the release is
installed (one module run, which is all an installed release costs), and copies the tarball from
the controller and runs the module again only when it is missing."""

from __future__ import annotations

import os
from typing import Any

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

MODULE = "intelgraph.ops.release_install"


class ActionModule(ActionBase):
    # The remote temporary directory is made only for a tarball to copy, not for every run.
    TRANSFERS_FILES = False

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        src = args.pop("src", None)
        if src and args.get("url"):
            result.update(failed=True, msg="parameters are mutually exclusive: src|url")
            return result
        try:
            # Without src the module only looks (or, with url, downloads what is missing itself).
            result.update(self._execute_module(MODULE, module_args=args, task_vars=task_vars))
            if not src or result.get("failed") or result.get("installed") or self._task.check_mode:
                return result
            try:
                local = self._find_needle("files", src)
            except AnsibleError as exc:
                result.update(
                    failed=True, msg=f"Cannot find the release tarball {src} on the controller: {exc}"
                )
                return result
            if not self._connection._shell.tmpdir:
                self._make_tmp_path()
            # Named as on the controller: the module names the tarball in what it says.
            remote = self._connection._shell.join_path(
                self._connection._shell.tmpdir, os.path.basename(local)
            )
            self._transfer_file(local, remote)
            self._fixup_perms2((self._connection._shell.tmpdir, remote))
            result.update(
                self._execute_module(MODULE, module_args=dict(args, src=remote), task_vars=task_vars)
            )
            return result
        finally:
            if self._connection._shell.tmpdir:
                self._remove_tmp_path(self._connection._shell.tmpdir)
