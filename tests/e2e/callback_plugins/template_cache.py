# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Keep the compiled code of the templates a run renders for its workers and the runs after it
(the end-to-end tests and Molecule)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: template_cache
type: aggregate
short_description: Keep the code Jinja compiles from a template, for every worker of a run and the runs after it
description:
  - Each task is run by a worker process forked for it, which compiles every template it renders (the task's
    arguments, its conditions, the variables they use) from its source to Python code, and forgets that code when
    it ends. An upgrade of the sandbox fleet compiles some 5,300 templates, of about 760 different sources, in
    about 5.9 s of processor time, some 14% of the controller's.
  - This callback keeps the code each compile gives, as a file under its directory named by a digest of the
    template's source and of everything else that goes into the code (the environment's delimiters and
    whitespace settings, the settings Ansible compiles with, the versions of ansible-core and Jinja, and the
    filter and test plugins of every collection in the collections path, which Jinja looks up while it
    compiles). A compile of the same source in the same run or a later one loads that code instead. The code
    that runs is the code Jinja would compile; a template that does not compile is compiled, and fails, as
    before.
  - Not enabled unless O(directory) is set; loaded by the tests alone (tests/e2e/sandbox.py, Molecule), never by
    the collection's users.
options:
  directory:
    description: Where the compiled code is kept, one directory per key of the versions and plugins below it.
    type: path
    env:
      - name: INTELGRAPH_TEMPLATE_CACHE
"""

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

# What the lexer and code generator read from an environment (jinja2.lexer.get_lexer's key).
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
_directory: Path | None = None


def cache_key(collections_paths: list[str]) -> str:
    """A digest of what compiled code depends on beyond a template's source and its environment: the
    versions of Python, ansible-core, the ansible package and Jinja, and the filter and test plugins
    of the collections in collections_paths (Jinja asks each filter and test what it is passed)."""
    digest = hashlib.sha256()
    try:
        bundle = metadata.version("ansible")
    except metadata.PackageNotFoundError:
        bundle = "none"
    digest.update(f"{sys.version}\0{ansible_core_version}\0{bundle}\0{jinja2.__version__}\0".encode())
    for base in collections_paths:
        root = Path(base) / "ansible_collections"
        for plugins in sorted(root.glob("*/*/plugins")):
            for kind in ("filter", "test"):
                for path in sorted((plugins / kind).rglob("*.py")):
                    digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def code_path(env: jinja2.Environment, kind: str, source: str, *args: Any) -> Path | None:
    """Where the code compiled from source in env is kept, or None when it is not to be kept (no
    directory, or Ansible's template debugging on, which compiles a breakpoint into the code)."""
    if _directory is None or getattr(env, "_debuggable_template_source", False):
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
    digest = hashlib.sha256("\0".join((kind, *environment, *map(repr, args), str(source))).encode())
    return _directory / digest.hexdigest()


def load(path: Path) -> CodeType | None:
    try:
        return marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None


def save(path: Path, code: CodeType) -> None:
    """Write the code whole, then rename: workers beside this one may read it meanwhile."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        partial.write_bytes(marshal.dumps(code))
        partial.replace(path)
    except OSError:
        partial.unlink(missing_ok=True)


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
    else:
        path, _ = _expression_path.get(), _expression_path.set(None)
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


def prune(directory: Path, key: str) -> list[str]:
    """Remove the code kept under every other key; return their keys."""
    removed = []
    for path in directory.iterdir() if directory.is_dir() else ():
        if path.is_dir() and path.name != key:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "template_cache"
    CALLBACK_NEEDS_ENABLED = False

    def set_options(self, task_keys: Any = None, var_options: Any = None, direct: Any = None) -> None:
        global _directory
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        directory = self.get_option("directory")
        if not directory:
            return
        key = cache_key(list(C.COLLECTIONS_PATHS))
        prune(Path(directory), key)
        _directory = Path(directory) / key
        _directory.mkdir(parents=True, exist_ok=True)
        # Callbacks load before the first play's first worker is forked: every worker has these.
        jinja2.Environment.compile = compile_kept  # type: ignore[method-assign]
        jinja2.Environment.compile_expression = compile_expression_kept  # type: ignore[method-assign]
        internal_code.update({compile_kept.__code__, compile_expression_kept.__code__})
