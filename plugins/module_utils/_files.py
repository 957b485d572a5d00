# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers: files on the host a module runs on."""

from __future__ import annotations

import hashlib


def sha256_of(path: str) -> str:
    """The file's SHA-256, hex, read in blocks of 1 MiB; OSError when it cannot be read."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
