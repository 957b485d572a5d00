# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers: files on the host a module runs on."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile


def sha256_of(path: str) -> str:
    """The file's SHA-256, hex, read in blocks of 1 MiB; OSError when it cannot be read."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def replace_file(path: str, content: bytes, mode: int, owner: tuple[int, int] | None = None) -> None:
    """Put content at path whole: written to a file of its own beside it (mkstemp), with its mode
    (and owner uid, gid, when given), synced, then renamed over path, so that nothing ever reads
    half of it. OSError when it cannot be written; the partial file is then removed."""
    descriptor, partial = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", dir=os.path.dirname(path) or "."
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            if owner is not None:
                os.fchown(handle.fileno(), *owner)
            os.fchmod(handle.fileno(), mode)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise


def put_file(path: str, content: bytes, mode: int, current: bytes | None) -> None:
    """Make path hold content with mode, where it holds current now (read_bytes): only its mode set
    when the content is the same, else written whole (replace_file). OSError when it cannot be."""
    if current == content:
        os.chmod(path, mode)
    else:
        replace_file(path, content, mode)


def parse_mode(text: str) -> int | None:
    """A file mode given as an octal string ("0640"), or None when it is not one (0 to 07777)."""
    try:
        mode = int(text, 8)
    except ValueError:
        return None
    return mode if 0 <= mode <= 0o7777 else None


def read_bytes(path: str) -> bytes | None:
    """The file's content, or None when there is none. OSError when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def attributes_differ(path: str, mode: int, owner: tuple[int, int]) -> bool:
    """Whether path (not followed) has another mode or owner uid, gid than these; True when it is missing."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return True
    return stat.S_IMODE(info.st_mode) != mode or (info.st_uid, info.st_gid) != owner
