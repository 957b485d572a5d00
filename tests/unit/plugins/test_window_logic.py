"""intelgraph.ops maintenance window: budget arithmetic, announcements, delivery."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._window import (
    WindowError,
    abandoned,
    announcement,
    check_phase,
    close_window,
    duration,
    end_observation,
    iso,
    keep_record,
    open_window,
    parse_deadline,
    phase_timings,
    refusal,
    remaining,
    should_retry,
    shown_webhook,
    start_observation,
    token_header,
    webhook_url_ok,
)
from ansible_collections.intelgraph.ops.plugins.modules.maintenance_window import deliver
from conftest import run_module

T0 = 1_795_806_000.0  # 2026-11-27T19:00:00Z


def window(minutes: int = 15, **kwargs: Any) -> dict[str, Any]:
    return open_window(T0, "24.1.0", minutes, previous_release="24.0.0", **kwargs)


def test_a_window_lasts_its_minutes_from_its_start() -> None:
    w = window()
    assert w["start"] == "2026-11-27T19:00:00Z"
    assert w["deadline"] == "2026-11-27T19:15:00Z"
    assert w["deadline_at"] - w["started_at"] == 900
    assert w["id"] == "20261127T190000Z"
    assert w["state"] == "open" and w["phases"] == []


def test_a_fixed_deadline_wins_over_minutes() -> None:
    w = window(deadline="2026-11-27T20:30:00+01:00")
    assert w["deadline"] == "2026-11-27T19:30:00Z"
    assert w["minutes"] == 30


@pytest.mark.parametrize(
    ("minutes", "deadline", "message"),
    [
        (0, "", "at least one minute"),
        (15, "2026-11-27T18:59:00Z", "already passed"),
        (15, "2026-11-27T19:30:00", "no time zone"),
        (15, "tomorrow", "not an ISO 8601 time"),
    ],
)
def test_windows_that_cannot_open(minutes: int, deadline: str, message: str) -> None:
    with pytest.raises(WindowError, match=message):
        open_window(T0, "24.1.0", minutes, deadline)


@pytest.mark.parametrize(
    ("elapsed", "expected", "fits", "left"),
    [
        (0, 60, True, 900),
        (840, 60, True, 60),  # exactly the time left: it may start
        (841, 60, False, 59),
        (30, 120, False, 30),  # a 1-minute window: 30 s in, a 2-minute phase overruns
        (30, 0, True, 30),
        (960, 0, False, -60),  # past the deadline nothing starts, not even a phase taking no time
    ],
)
def test_a_phase_starts_only_if_it_ends_by_the_deadline(
    elapsed: float, expected: float, fits: bool, left: float
) -> None:
    w = window(minutes=1 if left == 30 else 15)
    ok, updated = check_phase(w, "config", expected, T0 + elapsed)
    assert ok is fits
    assert remaining(w, T0 + elapsed) == left
    assert updated["phases"][-1] == {
        "phase": "config",
        "at": iso(T0 + elapsed),
        "at_ts": T0 + elapsed,
        "expected_seconds": expected,
        "remaining_seconds": left,
        "started": fits,
    }
    assert w["phases"] == []  # the window given is left as it was


def test_checking_a_closed_window_or_a_negative_estimate_is_an_error() -> None:
    with pytest.raises(WindowError, match="closed, not open"):
        check_phase(close_window(window(), "failed", "", T0 + 5), "config", 1, T0 + 6)
    with pytest.raises(WindowError, match="negative"):
        check_phase(window(), "config", -1, T0)


def test_refusal_names_the_phase_the_budget_and_the_deadline() -> None:
    w = window(minutes=1)
    text = refusal(w, "config", 120, T0 + 22)
    assert "Phase config is not started" in text
    assert "expected to take 120 s, but 38 s remain" in text
    assert "2026-11-27T19:01:00Z" in text and w["id"] in text
    late = refusal(w, "migrate", 10, T0 + 75)
    assert "the deadline passed 15 s ago" in late


def test_closing_records_outcome_and_overrun() -> None:
    w = window(minutes=1)
    on_time = close_window(w, "succeeded", "every phase finished", T0 + 59)
    assert on_time["state"] == "closed" and on_time["outcome"] == "succeeded" and not on_time["overran"]
    late = close_window(w, "failed", "x", T0 + 61)
    assert late["overran"] is True and late["end"] == "2026-11-27T19:01:01Z"
    with pytest.raises(WindowError, match="outcome"):
        close_window(w, "maybe", "", T0)


def test_phase_timings_run_from_one_started_phase_to_the_next() -> None:
    w = window()
    _fits, w = check_phase(w, "precheck", 60, T0 + 1)
    _fits, w = check_phase(w, "config", 60, T0 + 21)
    _fits, w = check_phase(w, "migrate", 10_000, T0 + 30)  # refused: not a started phase
    closed = close_window(w, "failed", "migrate would overrun", T0 + 31)
    assert phase_timings(closed, closed["closed_at"]) == [
        {"phase": "precheck", "start": iso(T0 + 1), "seconds": 20.0, "expected_seconds": 60},
        {"phase": "config", "start": iso(T0 + 21), "seconds": 10.0, "expected_seconds": 60},
    ]


def test_announcements_carry_release_start_deadline_and_links() -> None:
    w = window(links={"dashboard": "https://grafana.example.net/d/ig"})
    opened = announcement(w, "production")
    assert opened["event"] == "window_opened"
    assert {k: opened[k] for k in ("release", "previous_release", "start", "deadline", "links", "fleet")} == {
        "release": "24.1.0",
        "previous_release": "24.0.0",
        "start": "2026-11-27T19:00:00Z",
        "deadline": "2026-11-27T19:15:00Z",
        "links": {"dashboard": "https://grafana.example.net/d/ig"},
        "fleet": "production",
    }
    assert "until 2026-11-27T19:15:00Z (15 min)" in opened["text"]
    closed = announcement(close_window(w, "failed", "config failed.", T0 + 300))
    assert closed["event"] == "window_closed" and closed["outcome"] == "failed"
    assert closed["reason"] == "config failed."
    assert closed["text"].endswith("upgrade failed: config failed.")
    assert closed["phases"] == []


def test_the_close_announces_each_phase_s_time_and_when_the_observation_ends() -> None:
    w = check_phase(window(), "config", 60, T0 + 10)[1]
    w = check_phase(w, "migrate", 120, T0 + 75)[1]
    closed = close_window(w, "succeeded", "every phase finished", T0 + 500, observation_seconds=1800)
    message = announcement(closed)
    assert (message["event"], message["outcome"], message["overran"]) == ("window_closed", "succeeded", False)
    assert [(p["phase"], p["seconds"]) for p in message["phases"]] == [("config", 65.0), ("migrate", 425.0)]
    assert message["observation_until"] == iso(T0 + 2300)
    assert "Phases: config 1 min 05 s, migrate 7 min 05 s." in message["text"]
    assert message["text"].endswith("The post-upgrade observation (30 min) follows; it ends at 19:38:20 UTC.")
    # A failed window has no observation after it.
    failed = close_window(w, "failed", "migrate failed", T0 + 500, observation_seconds=1800)
    assert "observation" not in failed and "observation_until" not in announcement(failed)


def test_the_observation_after_the_window_is_started_and_ended_with_its_own_announcements() -> None:
    closed = close_window(window(), "succeeded", "", T0 + 400, observation_seconds=1800)
    observing = start_observation(closed, 1800, T0 + 420)
    started = announcement(observing, "production", "observation_started")
    assert started["event"] == "observation_started" and started["window_id"] == closed["id"]
    assert (started["observation_start"], started["observation_until"]) == (iso(T0 + 420), iso(T0 + 2220))
    assert started["text"] == (
        "Post-upgrade observation on production started: IntelGraph 24.1.0 is held to its SLO gates "
        "for 30 min, until 19:37:00 UTC."
    )
    ended = end_observation(observing, "failed", "gate read_p95 failed.", T0 + 900)
    message = announcement(ended, "", "observation_ended")
    assert (message["event"], message["outcome"], message["end"]) == (
        "observation_ended",
        "failed",
        iso(T0 + 900),
    )
    assert message["text"].endswith("IntelGraph 24.1.0 failed: gate read_p95 failed.")
    assert ended["state"] == "closed" and ended["outcome"] == "succeeded"  # the window's own outcome stands
    with pytest.raises(WindowError, match="the observation follows a closed window"):
        start_observation(window(), 60, T0)
    with pytest.raises(WindowError, match="no observation under way"):
        end_observation(closed, "succeeded", "", T0 + 900)
    with pytest.raises(WindowError, match="more than 0 seconds"):
        start_observation(closed, 0, T0 + 420)


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0, "0 s"), (44.6, "45 s"), (60, "1 min"), (185, "3 min 05 s"), (1800, "30 min")]
)
def test_durations_read_as_a_person_says_them(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown


@pytest.mark.parametrize(
    ("status", "retry"),
    [(None, True), (500, True), (503, True), (429, True), (408, True), (404, False), (401, False)],
)
def test_which_failures_are_retried(status: int | None, retry: bool) -> None:
    assert should_retry(status) is retry


def test_token_header() -> None:
    assert token_header("", "Authorization", "Bearer") == {}
    assert token_header("t0k", "Authorization", "Bearer") == {"Authorization": "Bearer t0k"}
    assert token_header("t0k", "X-Webhook-Token", "") == {"X-Webhook-Token": "t0k"}


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.example.net/services/T0/B1/xyz", True),
        ("http://127.0.0.1:8080/hook", True),
        ("ftp://hooks.example.net/x", False),
        ("hooks.example.net/x", False),
        ("https://", False),
        ("https://user:pw@hooks.example.net/", False),
    ],
)
def test_webhook_urls(url: str, ok: bool) -> None:
    assert webhook_url_ok(url) is ok


def test_the_webhook_is_shown_without_its_path() -> None:
    assert shown_webhook("https://hooks.example.net/services/T0/B1/secret") == "https://hooks.example.net/…"
    assert "secret" not in shown_webhook("hooks.example.net/secret")


def test_parse_deadline() -> None:
    assert parse_deadline("2026-11-27T19:00:00Z") == T0


# --- delivery, against a webhook on loopback -------------------------------------------------


@pytest.fixture
def webhook() -> Iterator[SimpleNamespace]:
    """A webhook answering the statuses queued in `answers` (then 204), recording each POST."""
    state = SimpleNamespace(answers=[], received=[], url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append((dict(self.headers.items()), json.loads(body)))
            self.send_response(state.answers.pop(0) if state.answers else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


def module_for(url: str, **overrides: Any) -> SimpleNamespace:
    params = {
        "webhook_url": url,
        "webhook_token": "s3cret",
        "webhook_token_header": "Authorization",
        "webhook_token_scheme": "Bearer",
        "validate_certs": True,
        "retries": 3,
        "retry_delay": 0,
        "timeout": 5,
    }
    params.update(overrides)
    return SimpleNamespace(params=params)


def test_delivery_retries_server_errors_then_succeeds(webhook: SimpleNamespace) -> None:
    webhook.answers = [503, 500]
    outcome = deliver(module_for(webhook.url), {"event": "window_opened"})
    assert outcome == {"tries": 3, "status": 204, "error": None, "delivered": True}
    assert len(webhook.received) == 3
    headers, body = webhook.received[-1]
    assert headers["Authorization"] == "Bearer s3cret"
    assert headers["Content-Type"] == "application/json"
    assert body == {"event": "window_opened"}


def test_delivery_gives_up_on_a_client_error_at_once(webhook: SimpleNamespace) -> None:
    webhook.answers = [401]
    outcome = deliver(module_for(webhook.url), {"event": "window_opened"})
    assert outcome["tries"] == 1 and outcome["delivered"] is False and outcome["status"] == 401


def test_delivery_stops_after_its_retries(webhook: SimpleNamespace) -> None:
    webhook.answers = [503] * 10
    outcome = deliver(module_for(webhook.url, retries=2), {"event": "window_closed"})
    assert outcome["tries"] == 3 and outcome["delivered"] is False and outcome["status"] == 503


def test_delivery_to_nobody_listening_is_retried() -> None:
    outcome = deliver(module_for("http://127.0.0.1:9/hook", retries=1), {"event": "window_opened"})
    assert outcome["tries"] == 2 and outcome["delivered"] is False and outcome["status"] is None
    assert outcome["error"]


@pytest.mark.parametrize(
    ("record", "left_open"),
    [
        ({"id": "w", "state": "open", "deadline_at": 1.0}, True),
        ({"id": "w", "state": "closed", "deadline_at": 1.0}, False),
        ({}, False),
        (None, False),
    ],
)
def test_abandoned_is_a_window_still_open(record: dict | None, left_open: bool) -> None:
    assert abandoned(record) is left_open


def test_opening_closes_the_window_an_interrupted_run_left_open(
    tmp_path: Any, webhook: SimpleNamespace
) -> None:
    args = {"release": "24.1.0", "webhook_url": webhook.url}
    record = {"state": "record", "record_dir": str(tmp_path / "window")}
    first = run_module("maintenance_window", dict(args, state="open"))
    assert first["changed"] and "abandoned" not in first
    assert [line["event"] for line in first["record"]["log"]] == ["window_opened"]
    kept = run_module(
        "maintenance_window", dict(record, window=first["record"]["window"], log=first["record"]["log"])
    )
    assert kept["changed"] and not kept.get("failed"), kept
    # That run stops here, never closing its window; the next run opens another, handed the
    # record the first one kept.
    previous = json.loads((tmp_path / "window/window.json").read_text())
    second = run_module("maintenance_window", dict(args, state="open", previous_window=previous))

    assert second["abandoned"]["window"]["id"] == first["window"]["id"]
    assert second["abandoned"]["window"]["outcome"] == "failed"
    assert "ended without closing it" in second["abandoned"]["window"]["reason"]
    assert second["abandoned"]["announced"] is True
    assert any("was still open" in warning for warning in second.get("warnings", []))
    events = [received[1]["event"] for received in webhook.received]
    assert events == ["window_opened", "window_closed", "window_opened"]
    assert webhook.received[1][1]["window_id"] == first["window"]["id"]
    assert [(line["event"], line.get("outcome")) for line in second["record"]["log"]] == [
        ("window_closed", "failed"),
        ("window_opened", None),
    ]
    run_module(
        "maintenance_window", dict(record, window=second["record"]["window"], log=second["record"]["log"])
    )
    kept_now = json.loads((tmp_path / "window/window.json").read_text())
    assert kept_now["state"] == "open" and kept_now["id"] == second["window"]["id"]
    logged = [json.loads(line) for line in (tmp_path / "window/announcements.log").read_text().splitlines()]
    assert [(line["event"], line.get("outcome")) for line in logged] == [
        ("window_opened", None),
        ("window_closed", "failed"),
        ("window_opened", None),
    ]
    # Readable by root only.
    assert (tmp_path / "window").stat().st_mode & 0o777 == 0o700
    for name in ("window.json", "announcements.log"):
        assert (tmp_path / "window" / name).stat().st_mode & 0o777 == 0o600
    # A window closed already is no abandoned one.
    third = run_module(
        "maintenance_window", dict(args, state="open", previous_window=second["abandoned"]["window"])
    )
    assert "abandoned" not in third


def test_check_mode_records_nothing(tmp_path: Any) -> None:
    opened = run_module("maintenance_window", {"state": "open", "release": "24.1.0"}, check=True)
    assert opened["record"]["window"]["id"] == opened["window"]["id"]
    kept = run_module(
        "maintenance_window",
        {"state": "record", "record_dir": str(tmp_path / "window"), **opened["record"]},
        check=True,
    )
    assert kept["changed"] is True
    assert not (tmp_path / "window").exists()


def test_a_phase_that_fits_is_checked_and_recorded_in_one_task(tmp_path: Any) -> None:
    opened = run_module("maintenance_window", {"state": "open", "release": "24.1.0", "minutes": 15})
    record_dir = tmp_path / "window"
    check = {"state": "check", "window": opened["window"], "phase": "config", "record_dir": str(record_dir)}

    checked = run_module("maintenance_window", dict(check, expected_seconds=60))
    assert not checked.get("failed") and checked["changed"] is False, checked
    assert checked["fits"] is True and 0 < checked["remaining_seconds"] <= 900
    [phase] = checked["window"]["phases"]
    assert (phase["phase"], phase["started"], phase["expected_seconds"]) == ("config", True, 60)
    kept = json.loads((record_dir / "window.json").read_text())
    assert kept == checked["record"]["window"] == checked["window"]
    assert (record_dir / "announcements.log").read_text() == ""
    assert (record_dir / "window.json").stat().st_mode & 0o777 == 0o600

    # A phase that would overrun is refused, and the record is left as it was.
    refused = run_module(
        "maintenance_window", dict(check, window=checked["window"], phase="rollout", expected_seconds=86400)
    )
    assert refused["failed"] and refused["fits"] is False
    assert refused["msg"].startswith("Phase rollout is not started: it is expected to take 86400 s, but")
    assert [(p["phase"], p["started"]) for p in refused["window"]["phases"]] == [
        ("config", True),
        ("rollout", False),
    ]
    assert json.loads((record_dir / "window.json").read_text()) == kept

    # In check mode the phase is decided and nothing is written.
    elsewhere = tmp_path / "elsewhere"
    dry = run_module(
        "maintenance_window", dict(check, record_dir=str(elsewhere), expected_seconds=60), check=True
    )
    assert dry["fits"] is True and not dry.get("failed") and not elsewhere.exists()


def test_checking_a_window_that_is_not_open_fails_naming_it(tmp_path: Any) -> None:
    closed = dict(window(), state="closed")
    failed = run_module(
        "maintenance_window",
        {"state": "check", "window": closed, "phase": "config", "record_dir": str(tmp_path / "window")},
    )
    assert (
        failed["failed"]
        and failed["msg"] == f"Maintenance window: window {closed['id']} is closed, not open."
    )
    assert not (tmp_path / "window").exists()
    missing = run_module("maintenance_window", {"state": "check", "window": closed})
    assert missing["failed"] and "phase" in missing["msg"]
    # A window that state=open did not return (no deadline) is named as such, here and in the module.
    foreign = {"state": "check", "window": {"id": "w1", "state": "open"}, "phase": "config"}
    said = run_module("maintenance_window", foreign)
    assert said["failed"] and said["msg"] == (
        "Maintenance window: the window given is not one that state=open returned (KeyError('deadline_at')); "
        "hand back the window of the open task's result."
    )
    closing = run_module("maintenance_window", {"state": "closed", "window": {"id": "w1", "state": "open"}})
    assert closing["failed"] and "the window given is not one that state=open returned" in closing["msg"]


def test_records_written_at_once_each_replace_the_record_whole(tmp_path: Any) -> None:
    """Two runs of one run id (two jobs of an AWX workflow) may record the window at the same
    moment: every write succeeds, and the record is one of them, whole, with no partial file left."""
    from concurrent.futures import ThreadPoolExecutor

    record_dir = str(tmp_path / "window")
    windows = [
        {"id": "20261204T160000Z", "state": "open", "phases": [{"phase": f"p{n}"}] * 50} for n in range(40)
    ]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda w: keep_record(record_dir, w, [{"event": "window_opened"}]), windows))
    assert json.loads((tmp_path / "window/window.json").read_text()) in windows
    assert sorted(p.name for p in (tmp_path / "window").iterdir()) == ["announcements.log", "window.json"]
    assert len((tmp_path / "window/announcements.log").read_text().splitlines()) == len(windows)
    assert (tmp_path / "window").stat().st_mode & 0o777 == 0o700


def test_the_module_closes_then_announces_the_observation_start_and_end(webhook: SimpleNamespace) -> None:
    args = {"release": "24.1.0", "webhook_url": webhook.url}
    opened = run_module("maintenance_window", dict(args, state="open"))
    closed = run_module(
        "maintenance_window", dict(args, state="closed", window=opened["window"], observation_seconds=240)
    )
    observing = run_module(
        "maintenance_window", dict(args, state="observing", window=closed["window"], observation_seconds=240)
    )
    ended = run_module(
        "maintenance_window",
        dict(
            args,
            state="observed",
            window=observing["window"],
            outcome="failed",
            reason="gate error_rate failed",
        ),
    )
    assert [received[1]["event"] for received in webhook.received] == [
        "window_opened",
        "window_closed",
        "observation_started",
        "observation_ended",
    ]
    assert webhook.received[1][1]["observation_until"]
    assert ended["window"]["observation"]["outcome"] == "failed"
    assert [line["event"] for line in ended["record"]["log"]] == ["observation_ended"]
    # Ending an observation that is not under way is refused, saying so.
    again = run_module("maintenance_window", dict(args, state="observed", window=ended["window"]))
    assert again["failed"] and "has no observation under way to end" in again["msg"]
