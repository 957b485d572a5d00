# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Keep what a run compiles, its modules and its templates' code, for the runs after it (the
end-to-end tests and Molecule)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: compile_cache
type: aggregate
short_description: Keep the modules Ansible builds and the code Jinja compiles from one test run to the next
description:
  - Each ansible-playbook run builds every module it uses anew the first time it uses it (AnsiballZ, the
    module and the module_utils it imports, found by parsing them), about 0.2 s of processor time a
    module, some 8 s in an upgrade of the sandbox fleet. The test suite runs about a hundred playbooks
    with the same modules. At the start of a run this callback copies the modules kept under
    O(module_directory) into the run's own module cache, where Ansible looks for them before building one;
    at the end it keeps those the run built. They are the same bytes Ansible would build.
  - Each task is run by a worker process forked for it, which compiles every template it renders (the
    task's arguments, its conditions, the variables they use) from its source to Python code, and forgets
    that code when it ends. An upgrade of the sandbox fleet compiles some 5,300 templates, of about 760
    different sources, in about 5.6 s of processor time. This callback keeps the code of each compile as a
    file under O(template_directory), named by a digest of the template's source and of its environment's
    settings (delimiters, whitespace, the settings Ansible compiles with); a compile of the same source in
    any worker of the run or a later run loads it. The code that runs is the code Jinja would compile; a
    template that does not compile is compiled, and fails, as before.
  - Each is kept under a key of what else it depends on (the versions of ansible-core and of the ansible
    package; for modules, the modules and module_utils of every collection in the collections path; for
    templates, the versions of Python and Jinja and the filter and test plugins of those collections, which
    Jinja looks up while it compiles), so a change to any of them starts a new directory, and the
    directories of other keys are removed.
  - Neither is kept unless its directory is set; loaded by the tests alone (tests/e2e/sandbox.py, Molecule),
    never by the collection's users.
options:
  module_directory:
    description: Where the modules are kept, one directory per key below it.
    type: path
    env:
      - name: INTELGRAPH_MODULE_CACHE
  template_directory:
    description: Where the templates' compiled code is kept, one directory per key below it.
    type: path
    env:
      - name: INTELGRAPH_TEMPLATE_CACHE
"""

import contextlib
import contextvars
import hashlib
import marshal
import os
import shutil
import sys
from importlib import metadata
from pathlib import Path
from types import CodeType
from typing import Any

import jinja2
from ansible import constants as C
from ansible._internal._templating import _jinja_bits, _jinja_common
from ansible.plugins.callback import CallbackBase
from ansible.release import __version__ as ansible_core_version
from jinja2 import nodes
from jinja2.environment import TemplateExpression
from jinja2.utils import internal_code

# What Ansible writes beside a module while it builds one.
PARTIAL = (".lock", "-part")
# The plugins of a collection that its modules are built from, and that Jinja looks up.
MODULE_PLUGINS = ("modules", "module_utils")
TEMPLATE_PLUGINS = ("filter", "test")
# What the lexer and code generator read from an environment (jinja2.lexer.get_lexer's key and more).
ENVIRONMENT_FIELDS = (
    "block_start_string", "block_end_string", "variable_start_string", "variable_end_string",
    "comment_start_string", "comment_end_string", "line_statement_prefix", "line_comment_prefix",
    "trim_blocks", "lstrip_blocks", "newline_sequence", "keep_trailing_newline", "optimized", "is_async",
)  # fmt: skip

_compile = jinja2.Environment.compile
_compile_expression = jinja2.Environment.compile_expression
# Where the code of the expression being compiled goes (compile_expression hands compile a tree).
_expression_path: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "expression_path", default=None
)
_templates: Path | None = None


def cache_key(collections_paths: list[str], plugins: tuple[str, ...], *versions: str) -> str:
    """A digest of ansible-core's and the ansible package's versions, these versions, and each file
    of these plugin directories of the collections found in collections_paths (its path below its
    collection, and its bytes)."""
    digest = hashlib.sha256()
    try:
        bundle = metadata.version("ansible")
    except metadata.PackageNotFoundError:
        bundle = "none"
    digest.update(
        "\0".join((f"ansible-core {ansible_core_version}", f"ansible {bundle}", *versions, "")).encode()
    )
    for base in collections_paths:
        root = Path(base) / "ansible_collections"
        for collection in sorted(root.glob("*/*/plugins")):
            for kind in plugins:
                for path in sorted((collection / kind).rglob("*.py")):
                    digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def write_whole(path: Path, data: bytes) -> None:
    """Write the file under another name, then rename it: runs and workers beside this one may
    read the directory meanwhile."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        partial.write_bytes(data)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def prune(directory: Path, key: str) -> list[str]:
    """Remove what is kept under every other key; return their keys."""
    removed = []
    for path in directory.iterdir() if directory.is_dir() else ():
        if path.is_dir() and path.name != key:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


# --- modules ---------------------------------------------------------------------------


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
    """Keep the modules the run built that are not kept yet (each written whole); return how many."""
    if not live.is_dir():
        return 0
    kept.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in live.iterdir():
        if not path.is_file() or path.name.endswith(PARTIAL) or (kept / path.name).exists():
            continue
        write_whole(kept / path.name, path.read_bytes())
        count += 1
    return count


# --- templates -------------------------------------------------------------------------


def code_path(env: jinja2.Environment, kind: str, source: str, *args: Any) -> Path | None:
    """Where the code compiled from source in env is kept, or None when it is not to be kept (no
    directory, or Ansible's template debugging on, which compiles a breakpoint into the code)."""
    if _templates is None or getattr(env, "_debuggable_template_source", False):
        return None
    ansible_context = _jinja_bits._TemplateCompileContext.current(optional=True)
    environment = (
        type(env).__module__,
        type(env).__qualname__,
        env.code_generator_class.__qualname__,
        *(repr(getattr(env, name)) for name in ENVIRONMENT_FIELDS),
        repr(env.autoescape) if isinstance(env.autoescape, bool) else "callable",
        repr(jinja2.utils._PassArg.from_obj(env.finalize)) if env.finalize else "none",
        *sorted(env.extensions),
        repr(ansible_context.escape_backslashes if ansible_context else None),
        repr(_jinja_common._TemplateConfig.allow_embedded_templates),
    )
    # surrogatepass: a template may hold text from bytes that were not UTF-8.
    text = "\0".join((kind, *environment, *map(repr, args), str(source)))
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass"))
    return _templates / digest.hexdigest()


def load(path: Path) -> CodeType | None:
    try:
        code = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, CodeType) else None


def save(path: Path, code: CodeType) -> None:
    """Keep the code; where it cannot be written, the template is compiled again next time."""
    with contextlib.suppress(OSError):
        write_whole(path, marshal.dumps(code))


def compile_kept(
    self: jinja2.Environment,
    source: str | nodes.Template,
    name: str | None = None,
    filename: str | None = None,
    raw: bool = False,
    defer_init: bool = False,
) -> Any:
    """jinja2.Environment.compile, with the code of a template's source kept."""
    if raw:
        return _compile(self, source, name, filename, raw, defer_init)
    if isinstance(source, str):
        path = code_path(self, "template", source, name, filename, defer_init)
    else:  # the tree of the expression compile_expression_kept is compiling, if any
        path = _expression_path.get()
        _expression_path.set(None)
    code = load(path) if path else None
    if code is None:
        code = _compile(self, source, name, filename, raw, defer_init)
        if path:
            save(path, code)
    return code


def compile_expression_kept(self: jinja2.Environment, source: str, undefined_to_none: bool = True) -> Any:
    """jinja2.Environment.compile_expression, with the code of the expression kept."""
    path = code_path(self, "expression", source)
    code = load(path) if path else None
    if code is None:
        token = _expression_path.set(path)
        try:
            return _compile_expression(self, source, undefined_to_none)
        finally:
            _expression_path.reset(token)
    template = self.template_class.from_code(self, code, self.make_globals(None), None)
    return TemplateExpression(template, undefined_to_none)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "compile_cache"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self) -> None:
        super().__init__()
        self.kept: Path | None = None  # <module_directory>/<key>
        # Ansible's own cache of the run's modules, in the run's temporary directory (made before
        # the callbacks are loaded, removed at its end).
        self.live = Path(C.DEFAULT_LOCAL_TMP) / "ansiballz_cache"

    def set_options(self, task_keys: Any = None, var_options: Any = None, direct: Any = None) -> None:
        global _templates
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        collections = list(C.COLLECTIONS_PATHS)
        if directory := self.get_option("module_directory"):
            self.kept = Path(directory) / cache_key(collections, MODULE_PLUGINS)
            restore(self.kept, self.live)
        if directory := self.get_option("template_directory"):
            key = cache_key(collections, TEMPLATE_PLUGINS, sys.version, f"jinja2 {jinja2.__version__}")
            prune(Path(directory), key)
            _templates = Path(directory) / key
            _templates.mkdir(parents=True, exist_ok=True)
            # Callbacks load before the first play's first worker is forked: every worker has these.
            jinja2.Environment.compile = compile_kept  # type: ignore[method-assign]
            jinja2.Environment.compile_expression = compile_expression_kept  # type: ignore[method-assign]
            internal_code.update({compile_kept.__code__, compile_expression_kept.__code__})

    def v2_playbook_on_stats(self, stats: Any) -> None:
        if self.kept is None:
            return
        keep(self.live, self.kept)
        prune(self.kept.parent, self.kept.name)
