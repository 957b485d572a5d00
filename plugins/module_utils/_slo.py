# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private logic of the SLO gates: judging series of measurements against targets, and the
ratios the release note asks for (Redis hit ratio, dead-letter growth) from counter samples.

No data is never a pass: a gate with fewer measurements than it needs is inconclusive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

PASS = "pass"
FAIL = "fail"
INCONCLUSIVE = "inconclusive"


@dataclass
class Gate:
    """One SLO gate: a PromQL query whose value must stay below (or above) a threshold."""

    name: str
    query: str
    threshold: float
    direction: str = "below"  # the value must be <= threshold ("below") or >= ("above")
    values: list[float | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.direction not in ("below", "above"):
            raise ValueError(
                f"gate {self.name!r}: direction must be 'below' or 'above', not {self.direction!r}"
            )
        self.threshold = float(self.threshold)

    def meets(self, value: float) -> bool:
        return value <= self.threshold if self.direction == "below" else value >= self.threshold

    def record(self, samples: list[float]) -> float | None:
        """Record one evaluation: the query's finite values (None when it returned none).
        A query returning several series is judged by its worst one."""
        finite = [v for v in samples if not (math.isnan(v) or math.isinf(v))]
        if not finite:
            self.values.append(None)
            return None
        worst = max(finite) if self.direction == "below" else min(finite)
        self.values.append(worst)
        return worst

    def verdict(self, min_samples: int, failure_limit: int) -> dict[str, Any]:
        """pass / fail / inconclusive, with what was measured."""
        measured = [v for v in self.values if v is not None]
        failures = [v for v in measured if not self.meets(v)]
        if len(failures) > failure_limit:
            status = FAIL
        elif len(measured) < min_samples:
            status = INCONCLUSIVE
        else:
            status = PASS
        worst = None
        if measured:
            worst = max(measured) if self.direction == "below" else min(measured)
        return {
            "name": self.name,
            "query": self.query,
            "threshold": self.threshold,
            "direction": self.direction,
            "status": status,
            "evaluations": len(self.values),
            "samples": len(measured),
            "failures": len(failures),
            "worst": worst,
            "last": measured[-1] if measured else None,
            "values": self.values,
        }


def describe(result: dict[str, Any]) -> str:
    """One line an operator can act on."""
    relation = "<=" if result["direction"] == "below" else ">="
    if result["status"] == INCONCLUSIVE:
        return (
            f"gate {result['name']} is inconclusive: {result['samples']} of {result['evaluations']} evaluations "
            f"returned data for {result['query']!r}; check that Prometheus scrapes the series"
        )
    return (
        f"gate {result['name']} {'failed' if result['status'] == FAIL else 'passed'}: worst {result['worst']} "
        f"(last {result['last']}) against {relation} {result['threshold']} in {result['failures']} failing of "
        f"{result['samples']} measurements of {result['query']!r}"
    )


def counter_delta(before: dict[str, Any], after: dict[str, Any], key: str) -> int:
    """How much a counter grew between two samples; a reset (restart) counts from zero."""
    start, end = int(before.get(key, 0)), int(after.get(key, 0))
    return end - start if end >= start else end


def hit_ratio(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, Any]:
    """The cache hit ratio over a window, from INFO stats samples of each node taken at its
    start and end (matched by `node`): the change of keyspace_hits over the change of hits
    plus misses, summed across nodes. None when there was no lookup at all."""
    starts = {s["node"]: s for s in before}
    hits = misses = 0
    for sample in after:
        start = starts.get(sample["node"])
        if start is None:
            raise ValueError(f"no starting sample for node {sample['node']}")
        hits += counter_delta(start, sample, "keyspace_hits")
        misses += counter_delta(start, sample, "keyspace_misses")
    lookups = hits + misses
    return {"hits": hits, "misses": misses, "ratio": (hits / lookups) if lookups else None}


def dlq_growth(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Dead-letter growth over a window as a share of the ingest traffic in it, from two
    samples of the streams' entries-added counters."""
    ingested = counter_delta(before, after, "ingest_entries_added")
    dead = counter_delta(before, after, "dlq_entries_added")
    return {"ingested": ingested, "dead_lettered": dead, "ratio": (dead / ingested) if ingested else None}
