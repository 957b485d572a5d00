#!/usr/bin/env python3
"""Build IntelGraph stand-in release tarballs from the one source tree in ``release/``.

    python3 sandbox/app/build.py --version 24.0.0 --version 24.1.0 --out sandbox/dist

writes ``<out>/intelgraph-server-<version>.tar.gz`` per version. The tarball's root is
the release root (``VERSION``, ``bin/``, ``intelgraph/``, ``migrations/``, workspace
files). Migrations are included up to the version being built. Output is
deterministic: sorted entries, fixed owner, mode and mtime, and a gzip header
without name or time, so rebuilding gives identical bytes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import sys
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "release"

MIGRATION_RELEASES: dict[str, str] = {
    "0001_base.sql": "24.0.0",
    "0002_ingest_idempotency.sql": "24.1.0",
}
"""The release that introduced each migration; a build includes those <= its version."""

SUPPORTED_VERSIONS = ("24.0.0", "24.1.0")

FIXED_MTIME = 1717200000
"""2024-06-01T00:00:00Z, or SOURCE_DATE_EPOCH when set."""

EXECUTABLE_DIRS = ("bin",)
EXCLUDED_NAMES = {"__pycache__", "node_modules"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".swp", "~")


def parse_version(text: str) -> tuple[int, int, int]:
    """``24.1.0`` -> (24, 1, 0)."""
    parts = text.strip().split(".")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        raise ValueError(f"version must look like 24.1.0, got {text!r}")
    major, minor, patch = (int(part) for part in parts)
    return (major, minor, patch)


def migrations_for(version: str, available: Sequence[str]) -> list[str]:
    """Migration file names that belong in a release of ``version``.

    Raises:
        ValueError: when a migration file has no entry in :data:`MIGRATION_RELEASES`.
    """
    unknown = sorted(set(available) - set(MIGRATION_RELEASES))
    if unknown:
        raise ValueError(f"migrations without a release in MIGRATION_RELEASES: {', '.join(unknown)}")
    wanted = parse_version(version)
    return sorted(name for name in available if parse_version(MIGRATION_RELEASES[name]) <= wanted)


def _excluded(path: Path) -> bool:
    """Caches, dependencies, editor files and hidden files stay out of a release."""
    return (
        any(part in EXCLUDED_NAMES or part.startswith(".") for part in path.parts)
        or path.name.endswith(EXCLUDED_SUFFIXES)
        or path.name == "pnpm-lock.yaml"
    )


def source_files(source: Path, version: str) -> Iterator[tuple[str, Path]]:
    """(archive name, source path) of every file of the release, migrations filtered."""
    migrations_dir = source / "migrations"
    keep = set(migrations_for(version, [p.name for p in migrations_dir.glob("*.sql")]))
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_dir() or _excluded(relative):
            continue
        if relative.parent == Path("migrations") and relative.name not in keep:
            continue
        yield relative.as_posix(), path


def _info(
    name: str, mtime: int, *, directory: bool = False, size: int = 0, executable: bool = False
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if directory:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.size = size
        info.mode = 0o755 if executable else 0o644
    return info


def _directories(names: Sequence[str]) -> list[str]:
    dirs: set[str] = set()
    for name in names:
        parent = Path(name).parent
        while parent != Path("."):
            dirs.add(parent.as_posix())
            parent = parent.parent
    return sorted(dirs)


def members(source: Path, version: str) -> list[tuple[str, bytes | None, bool]]:
    """(name, content or None for a directory, executable) in archive order."""
    files = {name: path.read_bytes() for name, path in source_files(source, version)}
    files["VERSION"] = (version + "\n").encode("ascii")
    entries: list[tuple[str, bytes | None, bool]] = [
        (d + "/", None, False) for d in _directories(list(files))
    ]
    for name in sorted(files):
        executable = Path(name).parts[0] in EXECUTABLE_DIRS
        entries.append((name, files[name], executable))
    entries.sort(key=lambda entry: entry[0].rstrip("/"))
    return entries


def build_bytes(version: str, source: Path = SOURCE, mtime: int | None = None) -> bytes:
    """The gzipped tarball of ``version`` as bytes."""
    parse_version(version)
    stamp = mtime if mtime is not None else int(os.environ.get("SOURCE_DATE_EPOCH", FIXED_MTIME))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content, executable in members(source, version):
            if content is None:
                tar.addfile(_info(name.rstrip("/"), stamp, directory=True))
            else:
                tar.addfile(_info(name, stamp, size=len(content), executable=executable), io.BytesIO(content))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


def build(version: str, out: Path, source: Path = SOURCE) -> Path:
    """Write ``<out>/intelgraph-server-<version>.tar.gz`` (atomically) and return its path."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"intelgraph-server-{version}.tar.gz"
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(build_bytes(version, source))
    os.replace(tmp, target)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--version",
        action="append",
        required=True,
        dest="versions",
        help=f"version to build; repeat for several (known: {', '.join(SUPPORTED_VERSIONS)})",
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    args = parser.parse_args(argv)
    for version in args.versions:
        try:
            target = build(version, args.out)
        except ValueError as exc:
            parser.error(str(exc))
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        print(f"{target} sha256={digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
