# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers of the traffic_check module: whether the fleet is quiet enough for a
maintenance window, from a request rate Prometheus measured."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass
class TrafficVerdict:
    """The measured rate against the ceiling, and whether the run may go on."""

    rate: float
    ceiling: float
    series: int
    low: bool
    forced: bool

    @property
    def go(self) -> bool:
        return self.low or self.forced

    def as_dict(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "ceiling": self.ceiling,
            "series": self.series,
            "low": self.low,
            "forced": self.forced,
            "go": self.go,
        }


def request_rate(samples: list[dict[str, Any]]) -> tuple[float, int]:
    """The request rate an instant query answered (the sum of its series; NaN ones ignored)
    and how many series it had. No series means no request was counted: a rate of 0."""
    values = [s["value"] for s in samples if not math.isnan(s["value"])]
    return round(sum(values), 3), len(samples)


def judge(samples: list[dict[str, Any]], ceiling: float, force: bool) -> TrafficVerdict:
    """Whether the measured rate is at most the ceiling; force lets a busy fleet through."""
    if ceiling < 0 or math.isnan(ceiling):
        raise ValueError(f"the ceiling must be a number of requests per second, 0 or more, got {ceiling}")
    rate, series = request_rate(samples)
    return TrafficVerdict(rate=rate, ceiling=ceiling, series=series, low=rate <= ceiling, forced=force)


def describe(verdict: TrafficVerdict, query: str) -> str:
    """One sentence on the verdict."""
    where = f"{verdict.rate:g} requests/s ({query})"
    if verdict.low:
        return f"Traffic is low enough: {where}, ceiling {verdict.ceiling:g}/s."
    if verdict.forced:
        return f"Traffic is above the ceiling, going on as forced: {where}, ceiling {verdict.ceiling:g}/s."
    return f"Traffic is too high for the window: {where}, above the ceiling of {verdict.ceiling:g}/s."
