"""The HTML release report rendered by the collection's module and opened in headless Chromium;
no fleet. The tests import the collection from the checkout, as the module runs it."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests/support"))
LINK = ROOT / ".collections/ansible_collections/intelgraph/ops"
if not LINK.exists():
    LINK.parent.mkdir(parents=True, exist_ok=True)
    LINK.symlink_to("../../..")
sys.path.insert(0, str(ROOT / ".collections"))
