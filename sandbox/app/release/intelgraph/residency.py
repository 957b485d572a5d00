"""Tenant residency guard (v24.1): requests must claim their tenant's region."""

from __future__ import annotations

import enum
import re

_REGION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class Decision(enum.Enum):
    """What the guard does with one request."""

    ALLOW = "allow"
    """Passes, nothing recorded."""
    ALLOW_UNCLAIMED = "allow_unclaimed"
    """Passes although it carries no valid region claim (permissive mode): counted."""
    DENY = "deny"
    """Refused with 403 (strict mode)."""


def valid_region(region: str | None) -> bool:
    """A region claim is a lowercase token such as ``eu-west``."""
    return bool(region) and bool(_REGION_RE.match(region or ""))


def decide(mode: str, region: str | None) -> Decision:
    """Decide on a request under residency ``mode`` (off, permissive, strict).

    ``region`` is the ``X-Tenant-Region`` header, or None when absent.
    """
    if mode == "off" or valid_region(region):
        return Decision.ALLOW
    if mode == "permissive":
        return Decision.ALLOW_UNCLAIMED
    if mode == "strict":
        return Decision.DENY
    raise ValueError(f"unknown residency mode {mode!r}")
