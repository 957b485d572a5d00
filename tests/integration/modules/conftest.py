"""The collection's Redis and HAProxy modules against scratch servers on loopback, and the HTML
release report's module with the page opened in headless Chromium; the tests import
the collection's module_utils from the checkout, as the modules run them."""

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
