"""The scenario's verify tests (molecule.yml: `verify tests/upgrade`, `verify tests/rollback`) see
the fleet as the end-to-end tests do: tests/e2e's Fleet and checks, and scenario.py here."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[2] / "tests/e2e")]
