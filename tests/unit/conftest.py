"""Make the checkout importable as ansible_collections.intelgraph.ops."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = ROOT / ".collections/ansible_collections/intelgraph/ops"

if not LINK.exists():
    LINK.parent.mkdir(parents=True, exist_ok=True)
    LINK.symlink_to("../../..")
sys.path.insert(0, str(ROOT / ".collections"))
