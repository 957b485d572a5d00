# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers: every command and wait of the collection is bounded. A timeout of 0 (or
less) where 0 would mean "wait for as long as it takes" is refused, naming the option and
the value it was given."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def timeout_errors(values: Mapping[str, Any]) -> list[str]:
    """`name=value: what it must be` for every timeout given that does not bound its wait.
    Empty when each is a number of seconds above 0."""
    errors = []
    for name, value in values.items():
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = None
        if isinstance(value, bool) or seconds is None or math.isnan(seconds):
            errors.append(f"{name}={value}: must be a number of seconds, more than 0")
        elif seconds <= 0:
            errors.append(f"{name}={value}: must be more than 0 seconds (0 would wait for ever)")
    return errors
