#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Open, budget and close the maintenance window of a run, announcing it to a webhook."""

from __future__ import annotations

DOCUMENTATION = r"""
module: maintenance_window
short_description: Open, check and close a run's maintenance window, announced to a webhook
description:
  - O(state=open) opens a window starting now and ending O(minutes) later (or at O(deadline)) and
    announces it with an HTTP POST of a JSON message (release, start, deadline, links) to
    O(webhook_url), retrying when there is no answer or a server error. Without a webhook the
    announcement is only logged. Returns the window, which the caller keeps (as a fact) and hands back.
  - O(state=check) decides whether a phase expected to take O(expected_seconds) may start, i.e. end
    before the deadline. A phase that would overrun is refused, and the module fails saying so. The
    phase is recorded in the returned window either way. The module's action plugin decides on the
    controller, by its clock, wherever the task runs; with O(record_dir), a phase that may start is
    also kept in the window's record on the host the task runs on (as O(state=record) keeps it), in the
    same task.
  - O(state=closed) closes the window with an O(outcome) and announces that, with the phases run and
    their timing and, with O(observation_seconds), when the post-upgrade observation that follows will
    end. Closing a closed window does nothing.
  - O(state=observing) starts the post-upgrade observation after the closed window (O(observation_seconds)
    from now) and announces it (event C(observation_started)); O(state=observed) ends it with an
    O(outcome) and announces that (event C(observation_ended)). Same message format as the window's, same
    webhook.
  - O(state=open), O(state=check) and O(state=closed) return the window's record (RV(record)) without
    secrets, that is the window, and each announcement made, as a line to append to the announcements'
    log. O(state=record) keeps them in O(record_dir), on the host it runs on (the state store's host), as
    C(window.json) and C(announcements.log); so the webhook is reached from the controller, and the record
    outlives it.
  - When O(state=open) is given, as O(previous_window), a window still open (the record of a run
    interrupted, or stopped with every host of a play unreachable, before it could close it), that window
    is closed first, as failed, and its end announced, so every window opened is also closed.
  - O(state=open) and O(state=closed) run on the controller (delegate them to C(localhost)); O(state=check) is
    decided there whatever the task is delegated to.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
options:
  state:
    description: What to do with the window.
    type: str
    choices: [open, check, closed, observing, observed, record]
    required: true
  release:
    description: The release the window is for (O(state=open)).
    type: str
  previous_release:
    description: The release the fleet runs before the window (O(state=open)).
    type: str
    default: ""
  minutes:
    description: Length of the window from its start (O(state=open)).
    type: int
    default: 15
  deadline:
    description: A fixed end (ISO 8601 with a time zone, e.g. C(2026-11-27T19:15:00Z)) instead of O(minutes).
    type: str
    default: ""
  links:
    description:
      - Named links sent with every announcement (dashboards, logs, the release ticket).
      - Kept and announced without their secrets, like every URL the module shows (a C(user:password@)
        becomes C(***@), the value of a query-string parameter named like a token, key, password or
        signature becomes C(***)).
    type: dict
    default: {}
  fleet:
    description: A name for the fleet in the announcements' text (e.g. C(production)).
    type: str
    default: ""
  window:
    description:
      - The window as returned by O(state=open) (O(state=check) and O(state=closed)), or the RV(record)'s
        window (O(state=record)).
    type: dict
  previous_window:
    description:
      - The window the record of an earlier run holds (C(window.json)), if any (O(state=open)). Still open,
        it is closed as failed and its end announced first.
    type: dict
  log:
    description: The RV(record)'s announcements to append to C(announcements.log) (O(state=record)).
    type: list
    elements: dict
    default: []
  phase:
    description: The phase about to start (O(state=check)).
    type: str
  expected_seconds:
    description: How long that phase is expected to take (O(state=check)).
    type: float
    default: 0
  outcome:
    description: How the run (O(state=closed)) or the observation (O(state=observed)) ended.
    type: str
    choices: [succeeded, failed]
    default: succeeded
  reason:
    description: Why, in a sentence (O(state=closed), O(state=observed)); sent with the announcement.
    type: str
    default: ""
  observation_seconds:
    description:
      - With O(state=closed) (outcome succeeded), the length of the post-upgrade observation that follows the
        window, announced with its close (V(0) - none).
      - With O(state=observing), the observation's length from now (more than 0).
    type: float
    default: 0
  webhook_url:
    description:
      - URL the announcements are POSTed to; empty means they are only logged.
      - Treated as a secret, since chat webhooks carry their token in the path.
    type: str
    default: ""
  webhook_token:
    description: Token sent in O(webhook_token_header) with each announcement (never logged).
    type: str
    default: ""
  webhook_token_header:
    description: Header carrying O(webhook_token).
    type: str
    default: Authorization
  webhook_token_scheme:
    description: Word put before the token in the header (e.g. C(Bearer)); empty sends the token alone.
    type: str
    default: Bearer
  validate_certs:
    description: Verify the webhook's TLS certificate.
    type: bool
    default: true
  retries:
    description: Further tries after a delivery that got no answer, a 5xx, a 408 or a 429.
    type: int
    default: 3
  retry_delay:
    description: Seconds between tries (doubled after each).
    type: float
    default: 2
  timeout:
    description: Seconds to wait for the webhook's answer on each try.
    type: float
    default: 10
  announce_required:
    description:
      - Fail when an announcement could not be delivered. With V(false) an undelivered announcement
        is a warning (sensible when closing, so that the run's own outcome is what stands).
    type: bool
    default: true
  record_dir:
    description:
      - Directory keeping C(window.json) and C(announcements.log) (O(state=record), and O(state=check) for a
        phase that may start), on the host the module runs on; made readable by its owner only (0700, files
        0600).
    type: path
attributes:
  action:
    support: full
    description: An action plugin decides O(state=check) on the controller, and keeps its record with one module run.
  check_mode:
    support: full
    description: In check mode nothing is sent or written; the window and its record are computed and returned as they would be.
  diff_mode:
    support: none
    description: No diff.
  idempotent:
    support: partial
    description: Closing an already closed window does nothing; each O(state=open) opens a new window.
"""

EXAMPLES = r"""
- name: Open and announce the window
  intelgraph.ops.maintenance_window:
    state: open
    release: 24.1.0
    minutes: 15
    links:
      dashboard: https://grafana.example.net/d/intelgraph
    webhook_url: "{{ release_webhook_url }}"
    webhook_token: "{{ release_webhook_token }}"
  delegate_to: localhost
  run_once: true
  register: window

- name: Keep the window's record in the state store
  intelgraph.ops.maintenance_window:
    state: record
    window: "{{ window.record.window }}"
    log: "{{ window.record.log }}"
    record_dir: /var/lib/intelgraph-ops/window
  delegate_to: tools1
  run_once: true

- name: Start the migrations only if they fit in the window, and record that in the state store
  intelgraph.ops.maintenance_window:
    state: check
    window: "{{ window.window }}"
    phase: migrate
    expected_seconds: 120
    record_dir: /var/lib/intelgraph-ops/window
  delegate_to: tools1
  run_once: true

- name: Close the window
  intelgraph.ops.maintenance_window:
    state: closed
    window: "{{ window.window }}"
    outcome: succeeded
    webhook_url: "{{ release_webhook_url }}"
    announce_required: false
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
window:
  description:
    - The window (id, release, state, start, deadline, Unix times, links, phases, and once closed
      its outcome).
  returned: always
  type: dict
  sample:
    id: 20261127T190000Z
    release: 24.1.0
    state: open
    start: "2026-11-27T19:00:00Z"
    deadline: "2026-11-27T19:15:00Z"
    phases: []
announcement:
  description: The JSON message announced (O(state=open), O(state=closed), O(state=observing), O(state=observed)).
  returned: when something was announced, or would be in check mode
  type: dict
announced:
  description: Whether the webhook accepted the announcement.
  returned: always
  type: bool
delivery:
  description: How the delivery went (tries, last HTTP status, last error).
  returned: when a webhook is set
  type: dict
abandoned:
  description:
    - The window an earlier run left open (O(previous_window)), now closed as failed (O(state=open)),
      and whether the webhook accepted the announcement of its end.
  returned: when O(state=open) found such a window
  type: dict
record:
  description:
    - What O(state=record) keeps, without secrets - C(window), the window, and C(log), the announcements this
      run made (each with C(logged_at), Unix time), in the order made.
  returned: with O(state=open), O(state=check) and O(state=closed)
  type: dict
fits:
  description: Whether the phase may start (O(state=check)).
  returned: with O(state=check)
  type: bool
remaining_seconds:
  description: Seconds left before the deadline.
  returned: always
  type: float
"""

import json
import time
import urllib.error
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url
from ansible_collections.intelgraph.ops.plugins.module_utils._redact import redact_data, redact_text
from ansible_collections.intelgraph.ops.plugins.module_utils._window import (
    ABANDONED_REASON,
    ARGUMENT_SPEC,
    REQUIRED_IF,
    abandoned,
    announcement,
    check_result,
    close_window,
    end_observation,
    failure,
    keep_record,
    open_window,
    recorded,
    remaining,
    should_retry,
    shown_webhook,
    start_observation,
    token_header,
    webhook_url_ok,
)


def deliver(module: AnsibleModule, message: dict[str, Any]) -> dict[str, Any]:
    """POST the message to the webhook, retrying; report how it went."""
    params = module.params
    headers = {"Content-Type": "application/json"}
    headers.update(
        token_header(params["webhook_token"], params["webhook_token_header"], params["webhook_token_scheme"])
    )
    body = json.dumps(message).encode()
    delay = params["retry_delay"]
    outcome: dict[str, Any] = {"tries": 0, "status": None, "error": None, "delivered": False}
    for attempt in range(params["retries"] + 1):
        outcome["tries"] = attempt + 1
        status = None
        try:
            response = open_url(
                params["webhook_url"],
                data=body,
                headers=headers,
                method="POST",
                timeout=params["timeout"],
                validate_certs=params["validate_certs"],
                follow_redirects="none",
            )
            status = response.getcode()
            outcome.update(status=status, error=None, delivered=200 <= status < 300)
        except urllib.error.HTTPError as exc:
            status = exc.code
            outcome.update(status=status, error=f"HTTP {exc.code} {exc.reason}")
        except (urllib.error.URLError, OSError, ValueError, UrlsConnectionError) as exc:
            outcome.update(status=None, error=redact_text(str(getattr(exc, "reason", exc))))
        if outcome["delivered"] or not should_retry(status) or attempt == params["retries"]:
            break
        time.sleep(delay)
        delay *= 2
    return outcome


def logged(result: dict[str, Any], message: dict[str, Any]) -> None:
    """Add an announcement made to the record's log, without secrets."""
    result.setdefault("record", {"log": []})["log"].append(redact_data(dict(message, logged_at=time.time())))


def write_record(
    module: AnsibleModule,
    window: dict[str, Any],
    log: list[dict[str, Any]],
    result: dict[str, Any] | None = None,
) -> None:
    """Keep window.json and append log to announcements.log in record_dir (state=record, or
    state=check with record_dir), readable by the owner only; exit with result (state=check's),
    else as changed."""
    done = result if result is not None else {"changed": True}
    if module.check_mode:
        module.exit_json(**done)
    try:
        keep_record(module.params["record_dir"], redact_data(window), [redact_data(m) for m in log])
    except OSError as exc:
        module.fail_json(
            msg=f"Cannot keep the window's record in {module.params['record_dir']}: {exc}. "
            "Set a writable directory.",
            **done,
        )
    module.exit_json(**done)


def close_abandoned(module: AnsibleModule, now: float, result: dict[str, Any]) -> None:
    """Close, as failed, the window an earlier run left open (previous_window), and announce that."""
    record = module.params["previous_window"]
    if not abandoned(record):
        return
    closed = close_window(record, "failed", ABANDONED_REASON, now)
    closing: dict[str, Any] = {}
    announce(module, closed, closing, required=False)
    result["abandoned"] = {"window": closed, "announced": closing["announced"]}
    result["record"] = closing["record"]
    module.warn(
        f"Maintenance window {record.get('id')} (IntelGraph {record.get('release')}) was still open: "
        f"{ABANDONED_REASON}."
    )


def announce(
    module: AnsibleModule,
    window: dict[str, Any],
    result: dict[str, Any],
    required: bool | None = None,
    event: str = "",
) -> None:
    """Announce the window's state (or, with event, its observation's): to the webhook when there
    is one, in the record's log always."""
    message = announcement(window, module.params["fleet"], event)
    result["announcement"] = message
    result["announced"] = False
    if module.params["webhook_url"] and not module.check_mode:
        delivery = deliver(module, message)
        result["delivery"] = delivery
        result["announced"] = delivery["delivered"]
        if not delivery["delivered"]:
            problem = (
                f"The webhook {shown_webhook(module.params['webhook_url'])} did not take the announcement "
                f"({message['event']}) after {delivery['tries']} tries: "
                f"{delivery['error'] or delivery['status']}."
            )
            if module.params["announce_required"] if required is None else required:
                module.fail_json(
                    msg=problem
                    + " Nothing was changed; fix the webhook (URL, token) or unset it to only log.",
                    **result,
                )
            module.warn(problem + " It was only logged.")
    logged(result, message)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, required_if=REQUIRED_IF, supports_check_mode=True)
    params = module.params
    if params["state"] == "record":
        write_record(module, params["window"], params["log"])
    if params["webhook_url"] and not webhook_url_ok(params["webhook_url"]):
        module.fail_json(
            msg=f"webhook_url {shown_webhook(params['webhook_url'])} is not an http:// or https:// URL "
            "with a host."
        )
    if params["retries"] < 0 or params["retry_delay"] < 0 or params["timeout"] <= 0:
        module.fail_json(msg="retries and retry_delay must be 0 or more, and timeout above 0.")
    now = time.time()
    result: dict[str, Any] = {"changed": False, "announced": False}

    try:
        if params["state"] == "open":
            window = open_window(
                now,
                params["release"],
                params["minutes"],
                params["deadline"],
                params["links"],
                params["previous_release"],
            )
            close_abandoned(module, now, result)
            result.update(changed=True, window=window, remaining_seconds=remaining(window, now))
            announce(module, window, result)
            module.exit_json(**recorded(result, window))

        window = params["window"]
        if params["state"] == "check":
            checked, refused = check_result(window, params["phase"], params["expected_seconds"], now)
            if refused:
                module.fail_json(msg=refused, **checked)
            if params["record_dir"]:
                write_record(module, checked["record"]["window"], [], checked)
            module.exit_json(**checked)

        if params["state"] in ("observing", "observed"):
            if params["state"] == "observing":
                window = start_observation(window, params["observation_seconds"], now)
                event = "observation_started"
            else:
                window = end_observation(window, params["outcome"], params["reason"], now)
                event = "observation_ended"
            result.update(changed=True, window=window, remaining_seconds=round(remaining(window, now), 1))
            announce(module, window, result, event=event)
            module.exit_json(**recorded(result, window))

        if window.get("state") == "closed":
            result.update(window=window, remaining_seconds=round(remaining(window, now), 1))
            module.exit_json(**result)
        window = close_window(window, params["outcome"], params["reason"], now, params["observation_seconds"])
        result.update(changed=True, window=window, remaining_seconds=round(remaining(window, now), 1))
        announce(module, window, result)
        module.exit_json(**recorded(result, window))
    except (KeyError, TypeError, ValueError) as exc:  # WindowError among them
        module.fail_json(msg=failure(exc))


if __name__ == "__main__":
    main()
