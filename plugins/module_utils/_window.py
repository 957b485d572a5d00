# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers of the maintenance_window module: the window's budget arithmetic, the
messages that announce it, and how their delivery is retried. Plain functions of plain data,
so that the module stays thin and the logic is tested without a clock or a network."""

from __future__ import annotations

import datetime
import json
import os
import re
from typing import Any

from ansible_collections.intelgraph.ops.plugins.module_utils._files import replace_file
from ansible_collections.intelgraph.ops.plugins.module_utils._redact import redact_data, redact_url

OUTCOMES = ("succeeded", "failed")

# The module's options, shared with its action plugin, which checks a phase (state=check) on the
# controller itself.
ARGUMENT_SPEC: dict[str, Any] = {
    "state": {
        "type": "str",
        "choices": ["open", "check", "closed", "observing", "observed", "record"],
        "required": True,
    },
    "release": {"type": "str"},
    "previous_release": {"type": "str", "default": ""},
    "minutes": {"type": "int", "default": 15},
    "deadline": {"type": "str", "default": ""},
    "links": {"type": "dict", "default": {}},
    "fleet": {"type": "str", "default": ""},
    "window": {"type": "dict"},
    "previous_window": {"type": "dict"},
    "log": {"type": "list", "elements": "dict", "default": []},
    "phase": {"type": "str"},
    "expected_seconds": {"type": "float", "default": 0},
    "outcome": {"type": "str", "choices": ["succeeded", "failed"], "default": "succeeded"},
    "reason": {"type": "str", "default": ""},
    "observation_seconds": {"type": "float", "default": 0},
    "webhook_url": {"type": "str", "default": "", "no_log": True},
    "webhook_token": {"type": "str", "default": "", "no_log": True},
    "webhook_token_header": {"type": "str", "default": "Authorization", "no_log": False},
    "webhook_token_scheme": {"type": "str", "default": "Bearer", "no_log": False},
    "validate_certs": {"type": "bool", "default": True},
    "retries": {"type": "int", "default": 3},
    "retry_delay": {"type": "float", "default": 2},
    "timeout": {"type": "float", "default": 10},
    "announce_required": {"type": "bool", "default": True},
    "record_dir": {"type": "path"},
}
REQUIRED_IF = [
    ("state", "open", ["release"]),
    ("state", "check", ["window", "phase"]),
    ("state", "closed", ["window"]),
    ("state", "observing", ["window"]),
    ("state", "observed", ["window"]),
    ("state", "record", ["window", "record_dir"]),
]

URL_PATTERN = re.compile(r"^https?://[^\s/?#@]+(:\d+)?([/?#]\S*)?$", re.IGNORECASE)


class WindowError(ValueError):
    """The window cannot be opened, checked or closed as asked."""


def iso(ts: float) -> str:
    """A Unix time as ISO 8601 in UTC, to the second."""
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window_id(ts: float) -> str:
    """The id of a window opened at ts; also names the run's restore point."""
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_deadline(text: str) -> float:
    """An ISO 8601 time (with an offset, or Z) as a Unix time."""
    try:
        moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise WindowError(f"deadline {text!r} is not an ISO 8601 time such as 2026-11-27T19:15:00Z") from None
    if moment.tzinfo is None:
        raise WindowError(f"deadline {text!r} has no time zone: add Z or an offset such as +01:00")
    return moment.timestamp()


def webhook_url_ok(url: str) -> bool:
    """Whether a webhook URL is an absolute http(s) URL with a host (empty means none)."""
    return bool(URL_PATTERN.match(url))


def shown_webhook(url: str) -> str:
    """The webhook URL as messages show it: its host only (no userinfo), since chat webhooks
    carry their secret in the path."""
    return redact_url(url, keep_path=False)


def open_window(
    now: float,
    release: str,
    minutes: int,
    deadline: str = "",
    links: dict[str, str] | None = None,
    previous_release: str = "",
) -> dict[str, Any]:
    """A window opened at now, ending `minutes` later or at `deadline` (ISO 8601)."""
    if minutes <= 0:
        raise WindowError(f"a window lasts at least one minute, got {minutes}")
    end = parse_deadline(deadline) if deadline else now + minutes * 60
    if end <= now:
        raise WindowError(f"the deadline {iso(end)} has already passed (now {iso(now)})")
    return {
        "id": window_id(now),
        "release": release,
        "previous_release": previous_release,
        "state": "open",
        "started_at": now,
        "deadline_at": end,
        "start": iso(now),
        "deadline": iso(end),
        "minutes": round((end - now) / 60, 2),
        # Kept and announced without secrets (no userinfo, no token in a query string).
        "links": {str(name): redact_url(url) for name, url in (links or {}).items()},
        "phases": [],
    }


def remaining(window: dict[str, Any], now: float) -> float:
    """Seconds left until the deadline (negative once it has passed)."""
    return float(window["deadline_at"]) - now


def check_phase(
    window: dict[str, Any], phase: str, expected: float, now: float
) -> tuple[bool, dict[str, Any]]:
    """Whether phase, expected to take `expected` seconds, may start at now: it must end by the
    deadline. Returns the verdict and the window with the phase recorded (started or refused)."""
    if window.get("state") != "open":
        raise WindowError(f"window {window.get('id')} is {window.get('state')}, not open")
    if expected < 0:
        raise WindowError(f"the expected duration of phase {phase} is negative ({expected} s)")
    left = remaining(window, now)
    fits = expected <= left
    entry = {
        "phase": phase,
        "at": iso(now),
        "at_ts": now,
        "expected_seconds": expected,
        "remaining_seconds": round(left, 1),
        "started": fits,
    }
    updated = dict(window, phases=[*window.get("phases", []), entry])
    return fits, updated


def check_result(
    window: dict[str, Any], phase: str, expected: float, now: float
) -> tuple[dict[str, Any], str | None]:
    """What state=check returns: the window with the phase recorded, whether the phase fits, the
    seconds left and the record to keep (the window without secrets); and why the phase is not
    started, or None when it fits. WindowError for a window that is not open or a negative
    estimate."""
    fits, updated = check_phase(window, phase, expected, now)
    result = {
        "changed": False,
        "announced": False,
        "window": updated,
        "fits": fits,
        "remaining_seconds": round(remaining(updated, now), 1),
    }
    return recorded(result, updated), None if fits else refusal(updated, phase, expected, now)


def recorded(result: dict[str, Any], window: dict[str, Any]) -> dict[str, Any]:
    """The result with the record of the window (without secrets) beside its log."""
    result.setdefault("record", {"log": []})["window"] = redact_data(window)
    return result


def failure(exc: Exception) -> str:
    """Why a window could not be opened, checked or closed as asked: a WindowError says so itself;
    a KeyError, TypeError or ValueError comes from a window that state=open did not return."""
    if isinstance(exc, WindowError):
        return f"Maintenance window: {exc}."
    return (
        f"Maintenance window: the window given is not one that state=open returned ({exc!r}); "
        "hand back the window of the open task's result."
    )


def refusal(window: dict[str, Any], phase: str, expected: float, now: float) -> str:
    """Why a phase is not started."""
    left = remaining(window, now)
    when = f"{left:.0f} s remain" if left >= 0 else f"the deadline passed {-left:.0f} s ago"
    return (
        f"Phase {phase} is not started: it is expected to take {expected:.0f} s, but {when} before the "
        f"deadline {window['deadline']} of maintenance window {window['id']}. The run stops here; "
        "everything done so far is in place. Plan a new window, or lower intelgraph_phase_seconds "
        f"for {phase} if that estimate is too high."
    )


def close_window(
    window: dict[str, Any], outcome: str, reason: str, now: float, observation_seconds: float = 0
) -> dict[str, Any]:
    """The window closed at now with an outcome; with observation_seconds, the post-upgrade
    observation that follows it is planned to end that long after now."""
    if outcome not in OUTCOMES:
        raise WindowError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    if observation_seconds < 0:
        raise WindowError(f"the observation lasts 0 seconds or more, got {observation_seconds}")
    closed = dict(
        window,
        state="closed",
        outcome=outcome,
        reason=reason,
        closed_at=now,
        end=iso(now),
        overran=now > float(window["deadline_at"]),
    )
    if observation_seconds and outcome == "succeeded":
        closed["observation"] = planned_observation(now, observation_seconds)
    return closed


def planned_observation(start: float, seconds: float) -> dict[str, Any]:
    """An observation of `seconds` from start, not begun yet."""
    return {
        "state": "planned",
        "seconds": seconds,
        "started_at": start,
        "start": iso(start),
        "until_at": start + seconds,
        "until": iso(start + seconds),
    }


def start_observation(window: dict[str, Any], seconds: float, now: float) -> dict[str, Any]:
    """The window, closed, with its post-upgrade observation begun at now for `seconds`."""
    if window.get("state") != "closed":
        raise WindowError(
            f"window {window.get('id')} is {window.get('state')}: the observation follows a closed window"
        )
    if seconds <= 0:
        raise WindowError(f"the observation lasts more than 0 seconds, got {seconds}")
    return dict(window, observation=dict(planned_observation(now, seconds), state="running"))


def end_observation(window: dict[str, Any], outcome: str, reason: str, now: float) -> dict[str, Any]:
    """The window with its observation ended at now with an outcome."""
    if outcome not in OUTCOMES:
        raise WindowError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    observation = window.get("observation") or {}
    if observation.get("state") != "running":
        raise WindowError(f"window {window.get('id')} has no observation under way to end")
    ended = dict(observation, state="ended", outcome=outcome, reason=reason, ended_at=now, end=iso(now))
    return dict(window, observation=ended)


ABANDONED_REASON = (
    "the run that opened it ended without closing it (the controller was stopped, or every host "
    "of a play became unreachable); closed when the next run opened its window"
)


def abandoned(record: dict[str, Any] | None) -> bool:
    """Whether the window kept by the last run is still open: that run never closed it."""
    return bool(record) and record.get("state") == "open" and "deadline_at" in record


def phase_timings(window: dict[str, Any], closed_at: float | None = None) -> list[dict[str, Any]]:
    """Each started phase with its start and the seconds until the next phase (or the close)."""
    started = [p for p in window.get("phases", []) if p.get("started")]
    timings = []
    for index, phase in enumerate(started):
        end = started[index + 1]["at_ts"] if index + 1 < len(started) else closed_at
        timings.append(
            {
                "phase": phase["phase"],
                "start": phase["at"],
                "seconds": None if end is None else round(end - phase["at_ts"], 1),
                "expected_seconds": phase["expected_seconds"],
            }
        )
    return timings


def duration(seconds: float) -> str:
    """Seconds as a person reads them: 45 s, 3 min 05 s, 30 min."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes} min" if not rest else f"{minutes} min {rest:02d} s"


def clock(stamp: str) -> str:
    """The time of day of an ISO 8601 UTC time, as HH:MM:SS UTC."""
    return f"{stamp[11:19]} UTC" if len(stamp) >= 19 else stamp


def announcement(window: dict[str, Any], fleet: str = "", event: str = "") -> dict[str, Any]:
    """The JSON message announcing the window (opened), its end (closed), or the observation that
    follows it (event observation_started or observation_ended)."""
    where = f" on {fleet}" if fleet else ""
    message: dict[str, Any] = {
        "release": window["release"],
        "previous_release": window.get("previous_release", ""),
        "window_id": window["id"],
        "start": window["start"],
        "deadline": window["deadline"],
        "links": {str(name): redact_url(url) for name, url in window.get("links", {}).items()},
    }
    if fleet:
        message["fleet"] = fleet
    if event in ("observation_started", "observation_ended"):
        return observation_announcement(window, message, where, event)
    if window["state"] == "open":
        message["event"] = "window_opened"
        message["text"] = (
            f"Maintenance window{where} open: IntelGraph {window['release']} upgrade from {window['start']} "
            f"until {window['deadline']} ({window['minutes']:g} min)."
        )
        return message
    message.update(
        event="window_closed",
        outcome=window["outcome"],
        reason=window.get("reason", ""),
        end=window["end"],
        overran=window.get("overran", False),
        phases=phase_timings(window, window.get("closed_at")),
    )
    reason = f": {window['reason'].rstrip('. ')}" if window.get("reason") else ""
    took = [f"{p['phase']} {duration(p['seconds'])}" for p in message["phases"] if p["seconds"] is not None]
    text = (
        f"Maintenance window{where} closed at {window['end']}: IntelGraph {window['release']} upgrade "
        f"{window['outcome']}{reason}."
    )
    if took:
        text += f" Phases: {', '.join(took)}."
    observation = window.get("observation")
    if observation:
        message["observation_until"] = observation["until"]
        text += (
            f" The post-upgrade observation ({duration(observation['seconds'])}) follows; it ends at "
            f"{clock(observation['until'])}."
        )
    message["text"] = text
    return message


def observation_announcement(
    window: dict[str, Any], message: dict[str, Any], where: str, event: str
) -> dict[str, Any]:
    """The message announcing the start or the end of the observation after the window."""
    observation = window.get("observation") or {}
    if event == "observation_started" and observation.get("state") != "running":
        raise WindowError(f"window {window.get('id')} has no observation under way to announce")
    if event == "observation_ended" and observation.get("state") != "ended":
        raise WindowError(f"window {window.get('id')} has no ended observation to announce")
    message.update(
        event=event,
        observation_start=observation["start"],
        observation_until=observation["until"],
        observation_seconds=observation["seconds"],
    )
    if event == "observation_started":
        message["text"] = (
            f"Post-upgrade observation{where} started: IntelGraph {window['release']} is held to its SLO gates "
            f"for {duration(observation['seconds'])}, until {clock(observation['until'])}."
        )
        return message
    reason = f": {observation['reason'].rstrip('. ')}" if observation.get("reason") else ""
    message.update(
        outcome=observation["outcome"], reason=observation.get("reason", ""), end=observation["end"]
    )
    message["text"] = (
        f"Post-upgrade observation{where} ended at {observation['end']}: IntelGraph {window['release']} "
        f"{'held its SLO gates' if observation['outcome'] == 'succeeded' else 'failed'}{reason}."
    )
    return message


def should_retry(status: int | None) -> bool:
    """Whether a failed delivery is worth another try: no answer, a server error, or 408/429.
    Other 4xx answers (a wrong URL or token) will not get better by trying again."""
    return status is None or status >= 500 or status in (408, 429)


def token_header(token: str, header: str, scheme: str) -> dict[str, str]:
    """The header carrying the webhook token (none without a token)."""
    if not token:
        return {}
    return {header: f"{scheme} {token}" if scheme else token}


def keep_record(record_dir: str, window: dict[str, Any], log: list[dict[str, Any]]) -> None:
    """Keep the window as record_dir/window.json and append the log's announcements, one JSON line
    each, to record_dir/announcements.log; the directory 0700, the files 0600. The window is
    written to a partial file of its own (mkstemp), then put in place whole, so that two runs of
    one run id (two jobs of an AWX workflow) recording at once each replace it whole. OSError
    when the directory cannot be written."""
    os.makedirs(record_dir, mode=0o700, exist_ok=True)
    os.chmod(record_dir, 0o700)
    replace_file(
        os.path.join(record_dir, "window.json"),
        json.dumps(window, indent=2, sort_keys=True).encode("utf-8"),
        0o600,
    )
    with open(
        os.open(os.path.join(record_dir, "announcements.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
        "a",
    ) as handle:
        for message in log:
            handle.write(json.dumps(message, sort_keys=True) + "\n")
