"""Version parsing and the features each version switches on."""

from __future__ import annotations

from pathlib import Path

import pytest
from intelgraph.version import features_for, parse_version, read_version


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24.0.0", (24, 0, 0)),
        ("24.1.0", (24, 1, 0)),
        ("v24.1.3", (24, 1, 3)),
        (" 25.0.1\n", (25, 0, 1)),
        ("24.1.0-rc.1", (24, 1, 0)),
    ],
)
def test_parse_version(text: str, expected: tuple[int, int, int]) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize("text", ["", "24", "24.1", "24.x.0", "latest", "24.1.0.0"])
def test_parse_version_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_version(text)


@pytest.mark.parametrize(
    ("version", "hardening"),
    [
        ("23.9.9", False),
        ("24.0.0", False),
        ("24.0.9", False),
        ("24.1.0", True),
        ("24.2.0", True),
        ("25.0.0", True),
    ],
)
def test_feature_gating(version: str, hardening: bool) -> None:
    features = features_for(version)
    assert features.hardening is hardening
    assert features.rate_limiter is hardening
    assert features.residency_guard is hardening
    assert features.subscription_latency_metric is hardening
    assert features.ingest_idempotency is hardening
    assert features.feature_toggle_defaults is hardening
    assert features.version == version


def test_read_version(tmp_path: Path) -> None:
    (tmp_path / "VERSION").write_text("24.1.0\n")
    assert read_version(tmp_path) == "24.1.0"
    (tmp_path / "VERSION").write_text("garbage\n")
    with pytest.raises(ValueError):
        read_version(tmp_path)
