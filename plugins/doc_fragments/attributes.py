# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""The `attributes:` shared by the modules that only read."""

from __future__ import annotations


class ModuleDocFragment:
    # intelgraph.ops.attributes.readonly: the module reads and never changes anything.
    READONLY = r"""
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs in check mode as it does otherwise.
  diff_mode:
    support: none
    description: Nothing is changed, so there is no diff.
  idempotent:
    support: full
    description: It never changes anything.
"""
