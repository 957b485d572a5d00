"""The residency guard's decision table."""

from __future__ import annotations

import pytest
from intelgraph.residency import Decision, decide, valid_region


@pytest.mark.parametrize(
    ("mode", "region", "decision"),
    [
        ("off", None, Decision.ALLOW),
        ("off", "", Decision.ALLOW),
        ("off", "eu-west", Decision.ALLOW),
        ("permissive", "eu-west", Decision.ALLOW),
        ("permissive", None, Decision.ALLOW_UNCLAIMED),
        ("permissive", "", Decision.ALLOW_UNCLAIMED),
        ("permissive", "EU WEST!", Decision.ALLOW_UNCLAIMED),
        ("strict", "eu-west", Decision.ALLOW),
        ("strict", "us-east-1", Decision.ALLOW),
        ("strict", None, Decision.DENY),
        ("strict", "", Decision.DENY),
        ("strict", "-bad", Decision.DENY),
    ],
)
def test_decide(mode: str, region: str | None, decision: Decision) -> None:
    assert decide(mode, region) is decision


def test_unknown_mode() -> None:
    with pytest.raises(ValueError):
        decide("enforcing", None)


@pytest.mark.parametrize(
    ("region", "ok"),
    [
        ("eu-west", True),
        ("ap-south-2", True),
        ("", False),
        (None, False),
        ("Eu-West", False),
        ("x" * 64, False),
    ],
)
def test_valid_region(region: str | None, ok: bool) -> None:
    assert valid_region(region) is ok
