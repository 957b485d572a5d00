"""What `make bench` reads from a run's task timings (sandbox/bench/bench.py)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "sandbox" / "bench"))

import bench  # noqa: E402

API = "Upgrade | roll out the API"


def task(name: str, start: float, hosts: dict[str, tuple[float, str]], play: str = API) -> dict:
    return {
        "play": play,
        "name": name,
        "action": "x",
        "start": start,
        "hosts": {host: {"end": end, "status": status} for host, (end, status) in hosts.items()},
    }


def batch(host: str, at: float, canary: bool) -> list[dict]:
    """One API host's batch: its own drain 0.5 s, restart 1 s and ready 0.2 s, 2.3 s of the
    rest until the canary's include (judged after the first batch only, 16 s)."""
    tasks = [
        task("Move the host to 24.1.0", at, {host: (at + 0.05, "ok")}),
        task("intelgraph.ops.rollout : Read the release the API runs", at + 0.1, {host: (at + 0.3, "ok")}),
        task(
            "intelgraph.ops.rollout : Take the host out of every load balancer, in maintenance once its "
            "sessions reach 0, one check a second, seconds at most 120",
            at + 1.0,
            {host: (at + 1.5, "changed")},
        ),
        task(
            "intelgraph.ops.intelgraph_service : Switch the service and start it, restarting it when its release changed",
            at + 2.0,
            {host: (at + 3.0, "changed")},
        ),
        task(
            "intelgraph.ops.intelgraph_service : Wait until the service answers ready on 24.1.0",
            at + 3.0,
            {host: (at + 3.2, "ok")},
        ),
        task(
            "intelgraph.ops.run_ledger : Record a phase in the run ledger, rollout done",
            at + 3.5,
            {host: (at + 3.7, "changed")},
        ),
        task(
            "Judge the canary against the hosts on 24.0.0",
            at + 4.0,
            {host: (at + 4.02, "ok" if canary else "skipped")},
        ),
    ]
    if canary:
        tasks.append(
            task(
                "intelgraph.ops.rollout : Wait for the end of the canary's bake",
                at + 4.1,
                {host: (at + 20.0, "ok")},
            )
        )
    return tasks


def test_each_api_batch_s_time_less_its_own_waits_and_the_canary_s_judging() -> None:
    tasks = [
        task(
            "intelgraph.ops.rollout : Check Redis",
            0.0,
            {"cache1": (0.5, "ok")},
            play="Upgrade | Redis before the rollout",
        ),
        *batch("api1", 1.0, canary=True),
        *batch("api2", 21.0, canary=False),
        *batch("api3", 26.0, canary=False),
        task(
            "Move the worker to 24.1.0",
            31.5,
            {"ingest1": (31.6, "ok")},
            play="Upgrade | roll out the ingest workers",
        ),
    ]
    # api1: 4.0 s to the canary's include, less 1.7 s of its own waits; api2: 5.0 s to the next
    # batch; api3: 5.5 s to the ingest play; each less 1.7 s.
    assert bench.api_host_overhead(tasks) == [2.3, 3.3, 3.8]


def test_the_hosts_after_the_canary_each_count_their_share_of_the_play_that_installs_their_release() -> None:
    install = "Upgrade | install the release on the other API hosts"
    tasks = [
        *batch("api1", 1.0, canary=True),
        task(
            "Install the release while the host serves, 24.1.0",
            21.0,
            {"api2": (21.1, "ok"), "api3": (21.1, "ok")},
            install,
        ),
        task(
            "intelgraph.ops.intelgraph_release : Install the release into its own directory",
            21.2,
            {"api2": (22.0, "changed"), "api3": (22.1, "changed")},
            install,
        ),
        *batch("api2", 22.2, canary=False),
        *batch("api3", 27.2, canary=False),
        task(
            "Move the worker to 24.1.0",
            32.7,
            {"ingest1": (32.8, "ok")},
            play="Upgrade | roll out the ingest workers",
        ),
    ]
    # The canary's batch as above (2.3 s); api2 and api3 their batches' 3.3 s and 3.8 s, each with
    # half of the install play's 1.2 s (21.0 s to api2's batch at 22.2 s).
    assert bench.api_host_overhead(tasks) == [2.3, 3.9, 4.4]


def test_a_batch_of_two_hosts_shares_its_time_and_a_run_without_the_api_rollout_has_none() -> None:
    two = [
        task("Move the host to 24.1.0", 0.0, {"api1": (0.1, "ok"), "api2": (0.1, "ok")}),
        task(
            "intelgraph.ops.rollout : Take the host out of every load balancer, in maintenance once its sessions reach 0",
            1.0,
            {"api1": (1.5, "changed"), "api2": (2.0, "changed")},
        ),
        task(
            "Judge the canary against the hosts on 24.0.0",
            3.0,
            {"api1": (3.1, "skipped"), "api2": (3.1, "skipped")},
        ),
    ]
    # 3.1 s (to the last result) less the drain's 1.0 s (its last host's), over two hosts.
    assert bench.api_host_overhead(two) == [1.05]
    assert (
        bench.api_host_overhead([task("Check Redis", 0.0, {"cache1": (0.5, "ok")}, play="Upgrade | Redis")])
        == []
    )


def test_the_window_s_time_and_plan_yml_s_estimate_are_read() -> None:
    phases = [
        {"name": "Pre-check | the fleet is ready", "start": 0.0, "end": 4.0},
        {"name": "Upgrade | open the maintenance window", "start": 4.5, "end": 5.0},
        {"name": "Upgrade | roll out the API", "start": 5.0, "end": 40.0},
        {"name": "Upgrade | close the maintenance window", "start": 50.0, "end": 51.25},
        {"name": "Validate | the post-upgrade observation", "start": 51.3, "end": 70.0},
    ]
    assert bench.in_window(phases) == 46.8
    assert bench.in_window(phases[:3]) is None  # a run that stopped before the window closed
    output = (
        "ok: [localhost] =>\n  msg:\n  - 'Estimated 3m 52s inside the maintenance window: the change fits in'"
    )
    assert bench.plan_estimate(output) == 232
    assert bench.plan_estimate("Nothing to change: no window is opened") is None


def test_a_run_that_failed_says_where_and_the_largest_fleet_upgraded_is_named(tmp_path: Path) -> None:
    log = tmp_path / "site.log"
    log.write_text(
        "TASK [intelgraph.ops.intelgraph_service : Wait until the service answers ready on 24.0.0] ***\n"
        "ok: [api1]\n"
        "fatal: [api94]: FAILED! => \n"
        "    attempts: 60\n"
        "    msg: 'Status code was 503 and not [200]: HTTP Error 503: Service Unavailable'\n"
        "fatal: [api95]: FAILED! => \n"
        "    msg: 'another'\n"
    )
    assert (
        bench.first_failure(str(log))
        == "api94: 'Status code was 503 and not [200]: HTTP Error 503: Service Unavailable'"
    )
    assert bench.first_failure(str(tmp_path / "none.log")) == ""

    held = bench.Run("api48", 48, "project", ok=True, wall=300.0, floor=90.0)
    lost = bench.Run("api96", 96, "project", failure="the fleet did not come up (api94: ...)", log="x.log")
    text = bench.markdown([held, lost], "2026-12-06 09:00 UTC", "2 CPUs")
    assert "Run api96 failed: the fleet did not come up (api94: ...); see x.log." in text
    assert "Largest fleet upgraded: 48 API hosts." in text
    assert "Largest fleet" not in bench.markdown([held], "2026-12-06 09:00 UTC", "2 CPUs")


def test_each_stock_run_is_set_against_ours_of_its_size() -> None:
    runs = [
        bench.Run("api3", 3, "project", ok=True, wall=80.0, floor=30.0),
        bench.Run("api3-stock", 3, "stock", ok=True, wall=240.0, floor=60.0),
        bench.Run("api12", 12, "project", ok=True, wall=120.0, floor=40.0),
        bench.Run("api12-stock", 12, "stock", ok=True, wall=480.0, floor=90.0),
    ]
    text = bench.markdown(runs, "2026-12-06 09:00 UTC", "2 CPUs")
    assert (
        "Stock Ansible settings (no pipelining, no ControlPersist, forks 5), 3 API hosts: 240.0 s against "
        "80.0 s, 3.00 times ours; above the floor 180.0 s against 50.0 s." in text
    )
    assert (
        "12 API hosts: 480.0 s against 120.0 s, 4.00 times ours; above the floor 390.0 s against 80.0 s."
        in text
    )
    # Without ours of its size, a stock run is set against nothing.
    assert "times ours" not in bench.markdown(runs[1:2], "2026-12-06 09:00 UTC", "2 CPUs")


def test_the_stock_run_follows_each_size_up_to_12() -> None:
    assert bench.runs_to_make([3, 12, 48], stock=True) == [
        ("api3", 3, False),
        ("api3-stock", 3, True),
        ("api12", 12, False),
        ("api12-stock", 12, True),
        ("api48", 48, False),
    ]
    assert bench.runs_to_make([3, 96], stock=False) == [("api3", 3, False), ("api96", 96, False)]


def test_the_estimate_is_set_against_the_window_of_our_runs_only() -> None:
    ours = bench.Run("api12", 12, "project", ok=True, in_window=80.0, estimate=88.0)
    stock = bench.Run("api12-stock", 12, "stock", ok=True, in_window=290.0, estimate=88.0)
    assert bench.estimate_ratio(ours) == " (1.10x)"
    assert bench.estimate_ratio(stock) == ""
    assert bench.estimate_ratio(bench.Run("api96", 96, "project", ok=False, estimate=507.0)) == ""
