"""Fixtures of the stand-in service's integration tests (see sandbox_it_support)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sandbox_it_support import Services, running_services


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    """Redis, PostgreSQL and both releases, for the whole session."""
    with running_services() as svc:
        yield svc
