# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Keep the modules a run builds for the runs after it (the end-to-end tests and Molecule)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: module_cache
type: aggregate
short_description: Keep the modules Ansible builds (AnsiballZ) from one test run to the next
description:
  - Each ansible-playbook run builds every module it uses anew the first time it uses it (AnsiballZ, the
    module and the module_utils it imports, found by parsing them), about 0.2 s of processor time a
    module, some 8 s in an upgrade of the sandbox fleet. The test suite runs about a hundred playbooks
    with the same modules.
  - At the start of a run this callback copies the modules kept under its directory into the run's
    own module cache, where Ansible looks for them before building one. At the end it keeps those
    the run built. Nothing else changes, as the modules are the same bytes Ansible would build.
  - They are kept under a key of what they are built from (the versions of ansible-core and of the
    ansible package, and the modules and module_utils of every collection in the collections path),
    so a change to any of them starts a new directory, and the directories of other keys are removed.
  - Not enabled unless O(directory) is set; loaded by the tests alone (tests/e2e/sandbox.py, Molecule),
    never by the collection's users.
options:
  directory:
    description: Where the modules are kept, one directory per key below it.
    type: path
    env:
      - name: INTELGRAPH_MODULE_CACHE
"""

import hashlib
import os
import shutil
from importlib import metadata
from pathlib import Path
from typing import Any

from ansible import constants as C
from ansible.plugins.callback import CallbackBase
from ansible.release import __version__ as ansible_core_version

# What Ansible writes beside a module while it builds one.
PARTIAL = (".lock", "-part")


def cache_key(collections_paths: list[str]) -> str:
    """A digest of what the modules are built from: ansible-core, the ansible package (the
    collections it carries), and the modules and module_utils of the collections found in
    collections_paths (each file's path below its collection, and its bytes)."""
    digest = hashlib.sha256()
    try:
        bundle = metadata.version("ansible")
    except metadata.PackageNotFoundError:
        bundle = "none"
    digest.update(f"ansible-core {ansible_core_version}\0ansible {bundle}\0".encode())
    for base in collections_paths:
        root = Path(base) / "ansible_collections"
        for plugins in sorted(root.glob("*/*/plugins")):
            for kind in ("modules", "module_utils"):
                for path in sorted((plugins / kind).rglob("*.py")):
                    digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def restore(kept: Path, live: Path) -> int:
    """Copy the kept modules into the run's module cache; return how many."""
    if not kept.is_dir():
        return 0
    live.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in kept.iterdir():
        if path.is_file() and not path.name.endswith(PARTIAL):
            shutil.copyfile(path, live / path.name)
            count += 1
    return count


def keep(live: Path, kept: Path) -> int:
    """Keep the modules the run built that are not kept yet (each written whole, then renamed:
    runs beside it may read the directory meanwhile); return how many."""
    if not live.is_dir():
        return 0
    kept.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in live.iterdir():
        if not path.is_file() or path.name.endswith(PARTIAL) or (kept / path.name).exists():
            continue
        partial = kept / f".{path.name}.{os.getpid()}"
        shutil.copyfile(path, partial)
        partial.replace(kept / path.name)
        count += 1
    return count


def prune(directory: Path, key: str) -> list[str]:
    """Remove the kept modules of every other key; return their keys."""
    removed = []
    for path in directory.iterdir() if directory.is_dir() else ():
        if path.is_dir() and path.name != key:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "module_cache"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self) -> None:
        super().__init__()
        self.kept: Path | None = None
        # Ansible's own cache of the run's modules, in the run's temporary directory (made before
        # the callbacks are loaded, removed at its end).
        self.live = Path(C.DEFAULT_LOCAL_TMP) / "ansiballz_cache"

    def set_options(self, task_keys: Any = None, var_options: Any = None, direct: Any = None) -> None:
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        directory = self.get_option("directory")
        if not directory:
            return
        self.directory = Path(directory)
        self.key = cache_key(list(C.COLLECTIONS_PATHS))
        self.kept = self.directory / self.key
        restore(self.kept, self.live)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        if self.kept is None:
            return
        keep(self.live, self.kept)
        prune(self.directory, self.key)
