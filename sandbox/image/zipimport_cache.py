"""A compiled-code cache for Python modules imported from zip archives, on sandbox hosts and the sandbox controller.

Each Ansible module run sends the module and the ``ansible.module_utils`` it needs as a zip,
which the host's Python imports with ``zipimport``. ``zipimport`` compiles every file of it
afresh and writes no bytecode, so every module run compiles ``ansible.module_utils.basic``
and its imports again: about a quarter of a module run's CPU, and the fleet's hosts share the
test machine's two cores with the controller. The host image installs this module, and a
``.pth`` file that calls ``install()`` (``build.sh``): it keeps each compiled file under ``CACHE_DIR``, keyed by the
Python version and the file's source, and loads it from there the next time the same source
is imported. The code that runs is the code that was sent; only its compilation is reused.

The sandbox controller's venv (``make venv``) installs it as well, with its cache under the checkout's
``.sandbox/``: the modules a playbook runs on localhost (the run ledger's copy, the window, the report)
import their payload the same way, with the venv's Python.
"""

from __future__ import annotations

import marshal
import os
import sys
import types
import zipimport

CACHE_DIR = "/var/cache/intelgraph-zipimport"

_compile_source = zipimport._compile_source  # type: ignore[attr-defined]


def _key(source: bytes) -> str:
    # Imported at the first compile, not at every interpreter start the .pth file makes (about 2 ms,
    # most of it OpenSSL's): most Python processes import nothing from a zip.
    import hashlib

    return hashlib.sha256(sys.version.encode() + b"\0" + source).hexdigest()


def _with_filename(code: types.CodeType, filename: str) -> types.CodeType:
    """The cached code with the path it is imported from now (tracebacks name the module's own zip)."""
    consts = tuple(
        _with_filename(c, filename) if isinstance(c, types.CodeType) else c for c in code.co_consts
    )
    return code.replace(co_filename=filename, co_consts=consts)


def cached_compile_source(pathname: str, source: bytes) -> types.CodeType:
    """zipimport's compile step, through the cache; a cache that cannot be read or written is skipped."""
    path = os.path.join(CACHE_DIR, _key(source))
    try:
        # Read whole, then unmarshalled: marshal.load on a file reads it a few bytes at a call,
        # five times slower over the hundred files a module run imports (about 20 ms of it).
        with open(path, "rb") as cached:
            code = marshal.loads(cached.read())
    except (OSError, EOFError, ValueError, TypeError):
        pass
    else:
        if isinstance(code, types.CodeType):
            return _with_filename(code, pathname)
    code = _compile_source(pathname, source)
    try:
        os.makedirs(CACHE_DIR, mode=0o700, exist_ok=True)
        partial = f"{path}.{os.getpid()}"
        with open(partial, "wb") as out:
            marshal.dump(code, out)
        os.replace(partial, path)
    except OSError:
        pass
    return code


def install(cache_dir: str = "") -> None:
    """Put the cache in zipimport's compile step: the .pth file calls this at every interpreter start,
    with the directory to keep it in where that is not CACHE_DIR (the sandbox controller's venv)."""
    global CACHE_DIR  # read at each compile (a test sets it as well)
    if cache_dir:
        CACHE_DIR = cache_dir
    zipimport._compile_source = cached_compile_source  # type: ignore[attr-defined]


def install_into(site_packages: str, cache_dir: str = "") -> None:
    """Install this module into site_packages, with the .pth file that calls install() at every
    interpreter start there (cache_dir given to it where it is not CACHE_DIR). The host image
    (build.sh) and the sandbox controller's venv (Makefile) are installed by this."""
    import shutil

    module = os.path.join(site_packages, "intelgraph_zipimport_cache.py")
    shutil.copyfile(__file__, module)
    os.chmod(module, 0o644)
    with open(os.path.join(site_packages, "intelgraph-zipimport-cache.pth"), "w") as pth:
        pth.write(f"import intelgraph_zipimport_cache; intelgraph_zipimport_cache.install({cache_dir!r})\n")


if __name__ == "__main__":
    import argparse
    import sysconfig

    parser = argparse.ArgumentParser(description="Install the compiled-code cache for zip imports.")
    parser.add_argument(
        "--into", default=sysconfig.get_paths()["purelib"], help="site-packages (default: this Python's)"
    )
    parser.add_argument("--cache-dir", default="", help=f"where the code is kept (default: {CACHE_DIR})")
    args = parser.parse_args()
    install_into(args.into, args.cache_dir)
