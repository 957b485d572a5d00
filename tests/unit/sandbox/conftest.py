"""Make the stand-in service, its build script and the traffic generator importable.

The service package ``intelgraph`` comes from ``sandbox/app/release``; the two scripts are
loaded under unambiguous names: ``sandbox_build`` and ``sandbox_traffic``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
RELEASE = ROOT / "sandbox" / "app" / "release"

if str(RELEASE) not in sys.path:
    sys.path.insert(0, str(RELEASE))


def _load(name: str, path: Path) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


_load("sandbox_build", ROOT / "sandbox" / "app" / "build.py")
_load("sandbox_traffic", ROOT / "sandbox" / "traffic" / "traffic.py")
