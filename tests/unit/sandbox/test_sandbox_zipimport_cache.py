"""The sandbox hosts' compiled-code cache for zip imports (sandbox/image/zipimport_cache.py).

Each case runs a fresh interpreter that installs the cache as the host image's .pth file does
and imports a module from a zip, as an Ansible module run imports its payload.
"""

from __future__ import annotations

import marshal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CACHE = ROOT / "sandbox" / "image" / "zipimport_cache.py"

SOURCE = b"def answer():\n    return 1\n\ndef fail():\n    raise RuntimeError('from the zip')\n"


def _zip(path: Path, source: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("payload_mod.py", source)
    return path


def _run(
    archive: Path, cache_dir: Path, call: str, *, as_venv: bool = False
) -> subprocess.CompletedProcess[str]:
    # The host image's .pth calls install(), which keeps the cache in CACHE_DIR (set here to a
    # directory of the test's); the sandbox controller's venv's passes its directory (Makefile).
    installed = (
        f"cache.install({str(cache_dir)!r})"
        if as_venv
        else f"cache.CACHE_DIR = {str(cache_dir)!r}; cache.install()"
    )
    program = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('intelgraph_zipimport_cache', {str(CACHE)!r})\n"
        "cache = importlib.util.module_from_spec(spec); spec.loader.exec_module(cache)\n"
        f"{installed}\n"
        f"sys.path.insert(0, {str(archive)!r})\n"
        "import payload_mod\n"
        f"print(payload_mod.{call}())\n"
    )
    # -S: not the site packages, whose .pth (the sandbox venv's) would install its own cache first.
    return subprocess.run(
        [sys.executable, "-S", "-c", program], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_first_import_compiles_and_keeps_the_code_the_next_loads_it(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    first = _run(_zip(tmp_path / "one.zip", SOURCE), cache_dir, "answer")
    assert (first.returncode, first.stdout) == (0, "1\n"), first.stderr
    kept = list(cache_dir.iterdir())
    assert len(kept) == 1

    # What the next import runs is what the cache holds: swapped for other code, that is what runs.
    kept[0].write_bytes(marshal.dumps(compile("def answer():\n    return 2\n", "elsewhere.py", "exec")))
    second = _run(_zip(tmp_path / "two.zip", SOURCE), cache_dir, "answer")
    assert (second.returncode, second.stdout) == (0, "2\n"), second.stderr


def test_changed_source_is_compiled_again_not_taken_from_the_cache(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    assert _run(_zip(tmp_path / "one.zip", SOURCE), cache_dir, "answer").stdout == "1\n"
    changed = _run(_zip(tmp_path / "two.zip", SOURCE.replace(b"return 1", b"return 3")), cache_dir, "answer")
    assert (changed.returncode, changed.stdout) == (0, "3\n"), changed.stderr
    assert len(list(cache_dir.iterdir())) == 2


def test_code_from_the_cache_names_the_zip_it_was_imported_from(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    _run(_zip(tmp_path / "one.zip", SOURCE), cache_dir, "answer")
    failed = _run(_zip(tmp_path / "two.zip", SOURCE), cache_dir, "fail")
    assert failed.returncode == 1
    assert f'File "{tmp_path / "two.zip" / "payload_mod.py"}", line 5, in fail' in failed.stderr
    assert "one.zip" not in failed.stderr


@pytest.mark.parametrize("damage", ["unwritable", "corrupt"])
def test_a_cache_it_cannot_use_leaves_the_import_as_it_was(tmp_path: Path, damage: str) -> None:
    if damage == "unwritable":
        cache_dir = tmp_path / "a-file"
        cache_dir.write_text("not a directory")
    else:
        cache_dir = tmp_path / "cache"
        _run(_zip(tmp_path / "one.zip", SOURCE), cache_dir, "answer")
        for kept in cache_dir.iterdir():
            kept.write_bytes(b"\x00not marshal data")
    run = _run(_zip(tmp_path / "two.zip", SOURCE), cache_dir, "answer")
    assert (run.returncode, run.stdout, run.stderr) == (0, "1\n", "")


def test_the_venv_s_install_keeps_the_cache_in_the_directory_it_names(tmp_path: Path) -> None:
    cache_dir = tmp_path / "sandbox" / "zipimport-cache"
    first = _run(_zip(tmp_path / "one.zip", SOURCE), cache_dir, "answer", as_venv=True)
    assert (first.returncode, first.stdout) == (0, "1\n"), first.stderr
    kept = list(cache_dir.iterdir())
    assert len(kept) == 1
    kept[0].write_bytes(marshal.dumps(compile("def answer():\n    return 4\n", "elsewhere.py", "exec")))
    second = _run(_zip(tmp_path / "two.zip", SOURCE), cache_dir, "answer", as_venv=True)
    assert (second.returncode, second.stdout) == (0, "4\n"), second.stderr


@pytest.mark.parametrize("cache_dir", ["", "kept"], ids=["host-image", "venv"])
def test_installed_into_a_site_directory_every_interpreter_there_uses_it(
    tmp_path: Path, cache_dir: str
) -> None:
    # As build.sh installs it into the host image (no directory: CACHE_DIR) and the Makefile into
    # the venv (its directory under .sandbox/); the .pth file runs when Python adds the site directory.
    site = tmp_path / "site"
    site.mkdir()
    args = ["--cache-dir", str(tmp_path / cache_dir)] if cache_dir else []
    subprocess.run([sys.executable, str(CACHE), "--into", str(site), *args], check=True, timeout=60)
    assert (site / "intelgraph_zipimport_cache.py").read_bytes() == CACHE.read_bytes()
    assert (site / "intelgraph_zipimport_cache.py").stat().st_mode & 0o777 == 0o644

    archive = _zip(tmp_path / "one.zip", SOURCE)
    program = (
        f"import site, sys, zipimport; site.addsitedir({str(site)!r}); sys.path.insert(0, {str(archive)!r})\n"
        "import intelgraph_zipimport_cache as cache, payload_mod\n"
        "print(payload_mod.answer(), zipimport._compile_source is cache.cached_compile_source, cache.CACHE_DIR)\n"
    )
    # -S: none of this interpreter's own site directories (the venv's has the cache installed already).
    run = subprocess.run([sys.executable, "-S", "-c", program], capture_output=True, text=True, timeout=60)
    expected = str(tmp_path / cache_dir) if cache_dir else "/var/cache/intelgraph-zipimport"
    assert (run.returncode, run.stdout, run.stderr) == (0, f"1 True {expected}\n", "")
    if cache_dir:
        assert len(list((tmp_path / cache_dir).iterdir())) == 1
