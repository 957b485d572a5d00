"""Accounting and workload of the traffic generator (no network)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import sandbox_traffic as traffic


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (None, "failed"),
        (500, "failed"),
        (502, "failed"),
        (503, "failed"),
        (429, "rejected"),
        (403, "rejected"),
        (200, "ok"),
        (201, "ok"),
        (404, "ok"),
        (400, "ok"),
    ],
)
def test_outcome_of(status: int | None, outcome: str) -> None:
    assert traffic.outcome_of(status) == outcome


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        ([], 95, None),
        ([5.0], 95, 5.0),
        (list(range(1, 101)), 95, 95),
        (list(range(1, 21)), 95, 19),
        ([3.0, 1.0, 2.0], 50, 2.0),
        (list(range(1, 101)), 100, 100),
    ],
)
def test_percentile(values: list[float], pct: float, expected: float | None) -> None:
    assert traffic.percentile(values, pct) == expected


def test_stats_accounting() -> None:
    clock = iter(range(100, 200))
    stats = traffic.Stats("http://127.0.0.1:8080", 20, 5, clock=lambda: float(next(clock)))
    for ms in range(1, 21):
        stats.record("read", 200, float(ms))
    stats.record("read", 404, 1.0)
    stats.record("write", 201, 10.0)
    stats.record("write", 503, 12.0)
    stats.record("write", None, 5000.0, "TimeoutError: timed out")
    stats.record("subscription", 429, 1.0)
    stats.record("read", 403, 1.0)
    stats.record_ingest(True)
    stats.record_ingest(True, poison=True)
    stats.record_ingest(False, error="ConnectionError")
    doc = stats.to_dict()

    assert doc["requests_sent"] == 26
    assert doc["requests_failed"] == 2
    assert doc["rejected"] == 2
    assert doc["status_counts"] == {"200": 20, "201": 1, "403": 1, "404": 1, "429": 1, "503": 1, "error": 1}
    assert doc["by_kind"]["read"] == {"sent": 22, "failed": 0, "rejected": 1, "p95_ms": 19.0}
    assert doc["by_kind"]["write"]["failed"] == 2 and doc["by_kind"]["write"]["sent"] == 3
    assert doc["by_kind"]["write"]["p95_ms"] == 12.0  # the timed-out request has no latency sample
    assert doc["by_kind"]["subscription"] == {"sent": 1, "failed": 0, "rejected": 1, "p95_ms": 1.0}
    assert [f["kind"] for f in doc["failures"]] == ["write", "write", "ingest"]
    assert doc["failures"][0]["error"] == "HTTP 503"
    assert doc["failures"][1]["error"].startswith("TimeoutError")
    assert (doc["ingest_events_produced"], doc["ingest_poison_produced"], doc["ingest_errors"]) == (2, 1, 1)
    assert doc["running"] is True
    assert doc["error_rate"] == pytest.approx(2 / 26, abs=1e-6)
    assert doc["updated_at"] > doc["started_at"]
    json.dumps(doc)


def test_only_the_last_failures_are_kept_but_the_first_and_last_times_are() -> None:
    clock = iter(range(1000, 2000))
    stats = traffic.Stats("http://x", 1, 0, clock=lambda: float(next(clock)))
    assert (stats.to_dict()["first_failure_at"], stats.to_dict()["last_failure_at"]) == (None, None)
    stats.record("read", 200, 1.0)
    for i in range(50):
        stats.record("read", None, 0.0, f"error {i}")
    stats.record("read", 200, 1.0)
    doc = stats.to_dict()
    failures = doc["failures"]
    assert len(failures) == traffic.LAST_FAILURES
    assert failures[-1]["error"] == "error 49"
    assert doc["first_failure_at"] < failures[0]["time"]  # older than any failure still listed
    assert doc["last_failure_at"] == failures[-1]["time"]


def test_write_json_atomic(tmp_path: Path) -> None:
    target = tmp_path / "state" / "traffic.json"
    traffic.write_json_atomic(target, {"a": 1})
    traffic.write_json_atomic(target, {"a": 2})
    assert traffic.read_stats(target) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["traffic.json"]


def test_workload_writes_hot_set_then_reads_it() -> None:
    workload = traffic.Workload({"acme": "eu-west", "globex": "us-east"}, rng=random.Random(7))
    assert workload.next().kind == "write"
    kinds = set()
    for _ in range(400):
        request = workload.next()
        kinds.add(request.kind)
        assert request.region == {"acme": "eu-west", "globex": "us-east"}[request.tenant]
        workload.observe(request, 201 if request.kind == "write" else 200, {})
        if request.kind == "read":
            entity = request.path.rsplit("/", 1)[1]
            assert entity.startswith(("hot-", "w-"))
    # Polls are the subscribers' (Runner.subscriber), never drawn with the reads and writes.
    assert kinds == {"read", "write"}


def test_a_tenants_poll_goes_on_from_the_cursor_its_last_answer_gave() -> None:
    workload = traffic.Workload({"acme": "eu-west", "globex": "us-east"})
    first = workload.poll("acme")
    assert (first.kind, first.path, first.region) == ("subscription", "/api/v1/subscriptions/poll", "eu-west")
    workload.observe(first, 200, {"cursor": "5-0", "events": []})
    workload.observe(workload.poll("acme"), 429, {"error": "rate limit exceeded"})
    assert workload.poll("acme").path.endswith("?cursor=5-0")
    assert workload.poll("globex").path == "/api/v1/subscriptions/poll"


def test_reads_mostly_hit_a_small_hot_set() -> None:
    workload = traffic.Workload(traffic.TENANT_REGIONS, rng=random.Random(1))
    reads: list[str] = []
    while len(reads) < 2000:
        request = workload.next()
        workload.observe(request, 201 if request.kind == "write" else 200, {})
        if request.kind == "read":
            reads.append(request.path)
    hot = sum("/hot-" in path for path in reads)
    assert hot / len(reads) > 0.85


def test_ingest_event_fields() -> None:
    runner = traffic.Runner(
        traffic.RunOptions("http://127.0.0.1:8080", None, 1, 1, Path("/nonexistent"), 1, 0.5, 1, 1, "s")
    )
    seen = set()
    poisons = 0
    for _ in range(200):
        fields, poison = runner.ingest_event(["acme"])
        assert set(fields) == {"event_id", "tenant", "batch_id", "payload", "produced_at"}
        assert fields["batch_id"].startswith("live-acme-")
        assert json.loads(fields["payload"]) == {"poison": True} if poison else "seq" in fields["payload"]
        seen.add(fields["event_id"])
        poisons += poison
    assert len(seen) == 200
    assert 50 < poisons < 150


def test_pacer_does_not_build_a_backlog() -> None:
    now = [0.0]
    pacer = traffic.Pacer(10, clock=lambda: now[0])
    assert pacer.delay() == 0.0
    assert pacer.delay() == pytest.approx(0.1)
    now[0] = 30.0  # stalled for a long time
    assert pacer.delay() == 0.0
    assert pacer.delay() == pytest.approx(0.1)


def test_summary_mentions_the_numbers() -> None:
    stats = traffic.Stats("http://lb", 20, 5)
    stats.record("read", 200, 3.0)
    stats.record("write", None, 0.0, "ConnectionRefusedError")
    text = traffic.summary(stats.to_dict())
    assert "2 sent, 1 failed" in text
    assert "ConnectionRefusedError" in text


@pytest.mark.parametrize("url", ["ftp://lb", "lb:80", "http://"])
def test_http_target_rejects_bad_urls(url: str) -> None:
    with pytest.raises(ValueError):
        traffic.HttpTarget(url, 1.0)


def test_http_target_parses_url() -> None:
    target = traffic.HttpTarget("http://10.89.40.10/prefix/", 2.0)
    assert (target.host, target.port, target.prefix, target.https) == ("10.89.40.10", 80, "/prefix", False)


def test_run_stops_by_itself_and_writes_final_stats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(traffic.signal, "signal", lambda *_args: None)
    stats = tmp_path / "traffic.json"
    code = traffic.main(
        [
            "run",
            "--base-url",
            "http://127.0.0.1:9",
            "--rate",
            "0",
            "--ingest-rate",
            "0",
            "--stats",
            str(stats),
            "--max-duration",
            "0.3",
        ]
    )
    assert code == 0
    doc = traffic.read_stats(stats)
    assert doc["running"] is False and doc["requests_sent"] == 0
    assert not stats.with_suffix(".pid").exists()


def test_produced_events_are_listed_next_to_the_stats(tmp_path: Path) -> None:
    stats = tmp_path / "traffic.json"
    log = traffic.ingest_log_for(stats)
    assert log == tmp_path / "traffic.ingest"
    runner = traffic.Runner(traffic.RunOptions("http://127.0.0.1:8080", None, 1, 1, stats, 1, 0.5, 1, 1, "s"))
    events = [runner.ingest_event(["acme", "globex"]) for _ in range(20)]
    with open(log, "a", encoding="utf-8") as handle:
        for fields, poison in events:
            traffic.record_produced(handle, fields, poison)
    assert traffic.read_produced(log) == {fields["event_id"]: poison for fields, poison in events}
