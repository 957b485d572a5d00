"""Release version of this tree and the features each version switches on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

RELEASE_ROOT = Path(__file__).resolve().parent.parent
"""Root of the unpacked release: holds ``VERSION``, ``bin/``, ``migrations/``."""

HARDENING_RELEASE = (24, 1, 0)
"""First version with the v24.1 "Hardening & Operations" behaviour."""

_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:[-+][0-9A-Za-z.+-]*)?$")

Version = tuple[int, int, int]


def parse_version(text: str) -> Version:
    """Parse ``24.1.0`` (an optional ``v`` prefix and ``-suffix`` are allowed).

    Raises:
        ValueError: when ``text`` is not a three-part numeric version.
    """
    match = _VERSION_RE.match(text.strip())
    if not match:
        raise ValueError(f"not a version: {text!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return (major, minor, patch)


def read_version(root: Path = RELEASE_ROOT) -> str:
    """Return the version string recorded in ``<root>/VERSION``."""
    text = (root / "VERSION").read_text(encoding="utf-8").strip()
    parse_version(text)
    return text


@dataclass(frozen=True)
class Features:
    """Behaviour switched on by a release version."""

    version: str
    rate_limiter: bool
    residency_guard: bool
    subscription_latency_metric: bool
    trace_sampling: bool
    ingest_idempotency: bool
    feature_toggle_defaults: bool

    @property
    def hardening(self) -> bool:
        """True for v24.1.0 and later."""
        return self.rate_limiter


def features_for(version: str) -> Features:
    """Return the feature set of ``version``."""
    on = parse_version(version) >= HARDENING_RELEASE
    return Features(
        version=version,
        rate_limiter=on,
        residency_guard=on,
        subscription_latency_metric=on,
        trace_sampling=on,
        ingest_idempotency=on,
        feature_toggle_defaults=on,
    )
