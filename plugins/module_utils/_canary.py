# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers of the canary_analysis module: the canary hosts' metrics compared with those
of the hosts still on the previous release, and the load sent through the load balancer while
the canary bakes.

No data is never a pass: a comparison without a value on either side is `nodata`.
"""

from __future__ import annotations

import decimal
import http.client
import json
import math
import random
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from ansible_collections.intelgraph.ops.plugins.module_utils._prometheus import (
    check_label,
    finite_values,
    quote,
)

PASS = "pass"
FAIL = "fail"
NODATA = "nodata"
COMPARES = ("ratio", "delta")


# --- the queries ---------------------------------------------------------------------------


def hosts_regex(hosts: list[str]) -> str:
    """The hosts as a regular expression alternation (each name escaped), written for a PromQL
    double-quoted string: label=~"$hosts" matches these hosts and no other."""
    return quote("|".join(re.escape(host) for host in hosts))[1:-1]


def render(query: str, hosts: list[str], window: int, label: str = "host") -> str:
    """The query with $window replaced by the window (`<n>s`), $label by the label naming a host
    and $hosts by the hosts' regex."""
    replaced = query.replace("$window", f"{window}s").replace("$label", check_label(label))
    return replaced.replace("$hosts", hosts_regex(hosts))


def vector_value(samples: list[dict[str, Any]]) -> float | None:
    """What an instant query measured: the sum of its finite values (a query that aggregates, as
    it should, answers one series); None, no data, for no series or only NaN and Inf."""
    values = finite_values(samples)
    return sum(values) if values else None


# --- the comparisons -----------------------------------------------------------------------


def number(value: float) -> str:
    """A value to 3 significant digits, with no exponent: 0.312, 0.0041, 7.8, 1230."""
    if math.isinf(value):
        return "infinitely many" if value > 0 else "minus infinitely many"
    if value == 0:
        return "0"
    return format(decimal.Decimal(f"{value:.3g}"), "f")


def with_unit(value: float, unit: str) -> str:
    """A value as number() writes it, followed by its unit if it has one: 0.312 s."""
    return f"{number(value)} {unit}" if unit else number(value)


def difference(value: float, unit: str) -> str:
    """A delta in words: `0.15 above`, `0.002 below`."""
    return f"{with_unit(abs(value), unit)} {'above' if value >= 0 else 'below'}"


@dataclass
class Comparison:
    """One metric measured on the canary and on the hosts on the previous release.

    ratio: max(canary, floor) / max(baseline, floor) must be at most the limit;
    delta: canary - baseline must be at most the limit."""

    name: str
    query: str
    compare: str
    limit: float
    floor: float = 0.0
    unit: str = ""
    limit_name: str = ""

    def __post_init__(self) -> None:
        if self.compare not in COMPARES:
            raise ValueError(
                f"metric {self.name!r}: compare must be 'ratio' or 'delta', not {self.compare!r}"
            )
        self.limit, self.floor = float(self.limit), float(self.floor)
        if math.isnan(self.limit):
            raise ValueError(f"metric {self.name!r}: the limit must be a number")
        if not self.floor >= 0:
            raise ValueError(f"metric {self.name!r}: the floor must be 0 or more, not {self.floor}")

    def score(self, canary: float, baseline: float) -> float:
        """The canary against the baseline: their ratio (a zero baseline against a zero canary
        is 1, against any other canary infinite), or their difference."""
        if self.compare == "delta":
            return canary - baseline
        above, below = max(canary, self.floor), max(baseline, self.floor)
        if below == 0:
            return 1.0 if above == 0 else math.inf
        return above / below

    def shown(self, value: float) -> str:
        """A measured value with its unit, and for a ratio what it counts as when the floor raised
        it (`0.00494 s (counted as 0.05 s)`)."""
        if self.compare == "ratio" and value < self.floor:
            return f"{with_unit(value, self.unit)} (counted as {with_unit(self.floor, self.unit)})"
        return with_unit(value, self.unit)

    def result(
        self, canary: float | None, baseline: float | None, score: float | None, status: str, reason: str
    ) -> dict[str, Any]:
        """The comparison as the module returns it (an infinite score as None: JSON has no infinity)."""
        return {
            "name": self.name,
            "compare": self.compare,
            "unit": self.unit,
            "limit": self.limit,
            "limit_name": self.limit_name,
            "floor": self.floor,
            "canary": canary,
            "baseline": baseline,
            "score": score if score is not None and math.isfinite(score) else None,
            "status": status,
            "reason": reason,
        }

    def judge(
        self,
        canary: float | None,
        baseline: float | None,
        canary_hosts: list[str],
        baseline_hosts: list[str],
        window: int,
    ) -> dict[str, Any]:
        """pass, fail or nodata, with the reason the operator is shown."""
        on_canary = f"the canary ({', '.join(canary_hosts)})"
        on_baseline = f"the hosts on the previous release ({', '.join(baseline_hosts)})"
        if canary is None or baseline is None:
            missing = [
                side for side, value in ((on_canary, canary), (on_baseline, baseline)) if value is None
            ]
            reason = f"{self.name}: no data for {' and for '.join(missing)} over the last {window} s"
            return self.result(canary, baseline, None, NODATA, reason)
        score = self.score(canary, baseline)
        status = FAIL if score > self.limit else PASS
        canary_text, baseline_text = self.shown(canary), self.shown(baseline)
        if self.compare == "ratio":
            measured, bound = f"{number(score)} times", number(self.limit)
        else:
            measured, bound = difference(score, self.unit), with_unit(self.limit, self.unit)
        if status == FAIL:
            reason = (
                f"{self.name} on {on_canary} was {canary_text}, {measured} the {baseline_text} of {on_baseline}: "
                f"more than {self.limit_name or 'the limit'} ({bound})"
            )
        else:
            reason = (
                f"{self.name} on {on_canary} {canary_text}, on the previous release "
                f"({', '.join(baseline_hosts)}) {baseline_text}: {measured}, at most {bound}"
            )
        return self.result(canary, baseline, score, status, reason)

    def unanswered(self, error: str) -> dict[str, Any]:
        """nodata: Prometheus did not answer one of the two queries, or refused it."""
        if "bad_data" in error:
            reason = f"{self.name}: Prometheus refused the query {self.query!r}: {error}"
        else:
            reason = f"{self.name}: Prometheus did not answer: {error}"
        return self.result(None, None, None, NODATA, reason)


def summary(
    results: list[dict[str, Any]], canary_hosts: list[str], baseline_hosts: list[str], bake: int
) -> str:
    """The reasons of the comparisons that did not pass, or one line saying all passed."""
    failed = [r["reason"] for r in results if r["status"] != PASS]
    if failed:
        return "; ".join(failed)
    return (
        f"The canary ({', '.join(canary_hosts)}) passed every comparison with the hosts on the previous "
        f"release ({', '.join(baseline_hosts)}) after a bake of {bake} s: {', '.join(r['name'] for r in results)}"
    )


# --- the load during the bake --------------------------------------------------------------

# At most this many requests are in flight at once: a slow answer does not hold up the next
# request, and a load balancer that stops answering is not sent more than this at a time.
LOAD_THREADS = 16


@dataclass(frozen=True)
class LoadRequest:
    """One request of the load: its method, path (below the base URL's), headers and body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None


@dataclass
class LoadTarget:
    """Where the load goes (the load balancer's base URL) and what is sent, each request once a round."""

    scheme: str
    host: str
    port: int | None
    requests: list[LoadRequest]
    rate: float
    timeout: float

    @classmethod
    def from_options(
        cls, url: str, rate: float, timeout: float, requests: list[dict[str, Any]]
    ) -> LoadTarget:
        """The target of the module's load option; ValueError for one it cannot send."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"load.url must be an http:// or https:// URL, not {url!r}")
        if not rate > 0:
            raise ValueError(f"load.rate must be more than 0 requests a second, not {rate}")
        if not timeout > 0:
            raise ValueError(f"load.timeout must be more than 0 seconds, not {timeout}")
        if not requests:
            raise ValueError("load.requests must list at least one request")
        base = parts.path.rstrip("/")
        prepared = []
        for request in requests:
            headers = {str(k): str(v) for k, v in (request.get("headers") or {}).items()}
            body = None
            if request.get("body") is not None:
                body = json.dumps(request["body"]).encode()
                headers = {"Content-Type": "application/json", **headers}
            path = f"{base}/{request['path'].lstrip('/')}"
            if any(character.isspace() for character in path):
                raise ValueError(f"load.requests: the path {request['path']!r} has white space in it")
            method = (request.get("method") or "GET").upper()
            prepared.append(LoadRequest(method, path, headers, body))
        return cls(parts.scheme, parts.hostname, parts.port, prepared, rate, timeout)

    def send(self, request: LoadRequest) -> int | None:
        """Send one request on a new connection; its status, or None when it was not answered."""
        connection_class = (
            http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(self.host, self.port, timeout=self.timeout)
        try:
            connection.request(request.method, request.path, body=request.body, headers=request.headers)
            response = connection.getresponse()
            response.read()
            return response.status
        except (OSError, ValueError, http.client.HTTPException):  # no answer, or a header it cannot send
            return None
        finally:
            connection.close()


@dataclass
class LoadCounts:
    """What the load sent and what came back (by_status: the answers by status code)."""

    sent: int = 0
    answered: int = 0
    errors_5xx: int = 0
    unanswered: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    def record(self, status: int | None) -> None:
        """Count one request sent, and its status (None: not answered)."""
        self.sent += 1
        if status is None:
            self.unanswered += 1
            return
        self.answered += 1
        if 500 <= status <= 599:
            self.errors_5xx += 1
        self.by_status[str(status)] = self.by_status.get(str(status), 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return dict(asdict(self), by_status=dict(sorted(self.by_status.items())))


def send_load(
    target: LoadTarget,
    seconds: float,
    send: Callable[[LoadRequest], int | None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> LoadCounts:
    """Send the target's requests, its rate a second, for `seconds`, and count the answers. Each
    round sends every request once, in an order drawn anew for the round: in a fixed order, a
    load balancer that takes its servers in turn (HAProxy's roundrobin) would give a server
    always the same request whenever the number of servers in service and the number of requests
    have a common factor (two requests, an even number of API hosts), and the canary no write to
    judge. A request not started by the end (every thread busy with slow answers) is not sent.
    Returns once the requests in flight are answered or timed out."""
    rate = target.rate
    send = send or target.send
    counts = LoadCounts()
    counting = threading.Lock()
    started = clock()
    deadline = started + seconds

    def one(request: LoadRequest) -> None:
        if clock() <= deadline:
            status = send(request)
            with counting:
                counts.record(status)

    threads = max(2, min(LOAD_THREADS, math.ceil(rate * target.timeout)))
    order: list[LoadRequest] = []
    with ThreadPoolExecutor(threads, thread_name_prefix="canary-load") as pool:
        for index in range(math.ceil(seconds * rate)):
            if not order:
                order = random.sample(target.requests, len(target.requests))
            sleep(max(0.0, started + index / rate - clock()))
            pool.submit(one, order.pop())
        sleep(max(0.0, deadline - clock()))
    return counts
