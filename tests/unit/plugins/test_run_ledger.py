"""intelgraph.ops run ledger: records, atomic writes under a lock, completion."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._ledger import (
    archive_path,
    done,
    history,
    load,
    locked,
    record,
    summary,
    write,
)
from conftest import run_module, run_tasks


def test_a_missing_ledger_is_empty_and_another_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "24.1.0.json"
    assert load(str(path), "24.1.0")["hosts"] == {}
    path.write_text(json.dumps({"release": "24.0.0", "hosts": {}}))
    with pytest.raises(ValueError, match=r"not a run ledger of release 24\.1\.0"):
        load(str(path), "24.1.0")


@pytest.mark.parametrize(
    ("first", "second", "expected", "changed"),
    [
        ("started", "done", "done", True),
        ("done", "started", "started", True),  # moved again: a new attempt
        ("done", "done", "done", False),  # done again keeps the first finish
        ("started", "started", "started", False),
    ],
)
def test_record_keeps_done_and_reports_change(first: str, second: str, expected: str, changed: bool) -> None:
    ledger = load("/nonexistent/ledger.json", "24.1.0")
    assert record(ledger, "rollout", first, ["api1"], None, 100.0)
    assert record(ledger, "rollout", second, ["api1"], None, 160.0) is changed
    entry = ledger["hosts"]["api1"]["rollout"]
    assert entry["status"] == expected
    assert entry["started"] == (160.0 if (first, second) == ("done", "started") else 100.0)
    assert ("finished" in entry) is (expected == "done")
    assert done(ledger, "rollout", "api1") is (expected == "done")


def test_fleet_records_data_and_summary() -> None:
    ledger = load("/nonexistent/ledger.json", "24.1.0")
    record(ledger, "restore_point", "done", None, {"id": "20261127T210000Z"}, 1.0)
    record(ledger, "config", "done", ["api1", "api2"], {"restart_needed": True}, 2.0)
    record(ledger, "rollout", "started", ["api2"], None, 3.0)
    assert done(ledger, "restore_point")
    assert ledger["fleet"]["restore_point"]["data"] == {"id": "20261127T210000Z"}
    assert ledger["hosts"]["api1"]["config"]["data"] == {"restart_needed": True}
    assert summary(ledger) == [
        "fleet: done: restore_point",
        "api1: done: config",
        "api2: done: config; started, not finished: rollout",
    ]


def test_hosts_recorded_at_once_keep_each_its_own_facts() -> None:
    ledger = load("/nonexistent/ledger.json", "24.1.0")
    assert record(
        ledger,
        "config",
        "done",
        ["api1", "api2", "ingest1"],
        {"release": "24.1.0"},
        2.0,
        {"api1": {"restart_needed": True}, "api2": {"restart_needed": False}},
    )
    assert {host: entries["config"]["data"] for host, entries in ledger["hosts"].items()} == {
        "api1": {"release": "24.1.0", "restart_needed": True},
        "api2": {"release": "24.1.0", "restart_needed": False},
        "ingest1": {"release": "24.1.0"},
    }
    assert all(entries["config"]["finished"] == 2.0 for entries in ledger["hosts"].values())


def test_write_replaces_the_file_whole_with_owner_only_mode(tmp_path: Path) -> None:
    path = str(tmp_path / "24.1.0.json")
    ledger = load(path, "24.1.0")
    record(ledger, "migrate", "done", None, None, 5.0)
    write(path, ledger)
    assert load(path, "24.1.0")["fleet"]["migrate"]["status"] == "done"
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert sorted(os.listdir(tmp_path)) == ["24.1.0.json"]  # no temporary file left


def _record_host(path: str, host: str) -> None:
    with locked(path):
        ledger = load(path, "24.1.0")
        record(ledger, "rollout", "done", [host], None, 1.0)
        write(path, ledger)


def test_hosts_recording_at_once_all_land(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger" / "24.1.0.json")
    hosts = [f"host{i}" for i in range(12)]
    with multiprocessing.get_context("fork").Pool(6) as pool:
        pool.starmap(_record_host, [(path, h) for h in hosts])
    assert sorted(load(path, "24.1.0")["hosts"]) == sorted(hosts)


def test_archive_path_names_the_completion_time() -> None:
    assert archive_path("/s/ledger/24.1.0.json", 0.0) == "/s/ledger/24.1.0.completed-19700101T000000Z.json"


def test_module_records_and_completes_only_when_every_host_is_done(tmp_path: Path) -> None:
    path = str(tmp_path / "24.1.0.json")
    base = {"path": path, "release": "24.1.0"}
    first = run_module("run_ledger", {**base, "state": "record", "phase": "rollout", "hosts": ["api1"]})
    assert first["changed"] is True
    again = run_module("run_ledger", {**base, "state": "record", "phase": "rollout", "hosts": ["api1"]})
    assert again["changed"] is False
    checked = run_module(
        "run_ledger", {**base, "state": "record", "phase": "config", "hosts": ["api1"]}, check=True
    )
    assert checked["changed"] is True
    assert "config" not in load(path, "24.1.0")["hosts"]["api1"]  # check mode wrote nothing

    read = run_module("run_ledger", base)
    assert read["resumed"] is True
    assert read["summary"] == ["api1: done: rollout"]
    both = run_module(
        "run_ledger",
        {
            **base,
            "state": "record",
            "phase": "config",
            "hosts": ["api1", "api2"],
            "host_data": {"api1": {"restart_needed": True}, "api2": {"restart_needed": False}},
        },
    )
    assert {h: e["config"]["data"] for h, e in both["ledger"]["hosts"].items()} == {
        "api1": {"restart_needed": True},
        "api2": {"restart_needed": False},
    }
    ledger = load(path, "24.1.0")
    assert [ledger["hosts"][h]["config"]["data"]["restart_needed"] for h in ("api1", "api2")] == [True, False]

    waiting = run_module(
        "run_ledger", {**base, "state": "completed", "phase": "rollout", "hosts": ["api1", "api2"]}
    )
    assert waiting["changed"] is False and waiting["incomplete"] == ["api2"]
    assert os.path.exists(path)

    run_module("run_ledger", {**base, "state": "record", "phase": "rollout", "hosts": ["api2"]})
    completed = run_module(
        "run_ledger", {**base, "state": "completed", "phase": "rollout", "hosts": ["api1", "api2"]}
    )
    assert completed["changed"] is True
    assert not os.path.exists(path)
    assert json.loads(Path(completed["path"]).read_text())["completed"] > 0
    assert run_module("run_ledger", base)["resumed"] is False
    # A run with no ledger (nothing to do, or already moved aside) completes nothing and waits for no host.
    none = run_module(
        "run_ledger", {**base, "state": "completed", "phase": "rollout", "hosts": ["api1", "api2"]}
    )
    assert none["changed"] is False and none["incomplete"] == []


def test_records_given_with_a_phase_are_written_in_the_same_write_each_at_its_own_time(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "24.1.0.json")
    base = {"path": path, "release": "24.1.0", "state": "record"}
    run_module("run_ledger", {**base, "phase": "rollout", "status": "started", "hosts": ["api1"]})
    api1_done = {
        "phase": "rollout",
        "status": "done",
        "hosts": ["api1"],
        "host_data": {"api1": {"moved": True}},
        "time": 1795000042.5,
    }
    both = run_module(
        "run_ledger",
        {**base, "phase": "rollout", "status": "started", "hosts": ["api2"], "records": [api1_done]},
    )
    assert both["changed"] is True
    hosts = load(path, "24.1.0")["hosts"]
    assert hosts["api1"]["rollout"]["status"] == "done"
    assert hosts["api1"]["rollout"]["finished"] == 1795000042.5
    assert hosts["api1"]["rollout"]["data"] == {"moved": True}
    assert hosts["api2"]["rollout"]["status"] == "started"
    assert hosts["api2"]["rollout"]["started"] > 1795000042.5
    # Written again (a record kept for the next write that reached it already): no change.
    again = run_module(
        "run_ledger",
        {**base, "phase": "rollout", "status": "started", "hosts": ["api2"], "records": [api1_done]},
    )
    assert again["changed"] is False
    # Records alone, without a phase of their own.
    api2_done = {"phase": "rollout", "hosts": ["api2"], "time": 1795000099.0}
    alone = run_module("run_ledger", {**base, "records": [api2_done]})
    assert alone["changed"] is True
    assert load(path, "24.1.0")["hosts"]["api2"]["rollout"]["finished"] == 1795000099.0
    # Neither a phase nor records: nothing to record.
    refused = run_module("run_ledger", base)
    assert refused["failed"] is True and "phase, records" in refused["msg"], refused


def test_history_is_every_ledger_of_the_release_newest_first(tmp_path: Path) -> None:
    path = str(tmp_path / "24.1.0.json")
    assert history(path, "24.1.0") == []
    for updated in (100.0, 300.0):
        ledger = load(path, "24.1.0")
        record(ledger, "rollout", "done", ["api1"], {"moved": True}, updated)
        write(archive_path(path, updated), ledger)
    current = load(path, "24.1.0")
    record(current, "config", "done", ["api1"], None, 200.0)
    write(path, current)
    (tmp_path / "24.0.0.completed-20261101T000000Z.json").write_text(json.dumps({"release": "24.0.0"}))
    assert [ledger["updated"] for ledger in history(path, "24.1.0")] == [300.0, 200.0, 100.0]


SAY_WHERE = "intelgraph.ops.run_ledger : Say where the ledger went"


@pytest.mark.parametrize("store_has_one", [False, True], ids=["moved", "store-kept"])
def test_a_ledger_an_earlier_layout_kept_on_the_controller_goes_into_the_state_store(
    tmp_path: Path, store_has_one: bool
) -> None:
    controller, store = tmp_path / "controller", tmp_path / "store" / "ledger"
    legacy = controller / "ledger" / "24.1.0.json"
    legacy.parent.mkdir(parents=True)
    interrupted = load(str(legacy), "24.1.0")
    record(interrupted, "rollout", "done", ["api1"], None, 100.0)
    write(str(legacy), interrupted)
    if store_has_one:
        store.mkdir(parents=True)
        newer = load(str(store / "24.1.0.json"), "24.1.0")
        record(newer, "rollout", "done", ["api2"], None, 200.0)
        write(str(store / "24.1.0.json"), newer)
    read = {
        "name": "Read the ledger",
        "ansible.builtin.include_role": {"name": "intelgraph.ops.run_ledger", "tasks_from": "read"},
        "vars": {
            "run_ledger_host": "localhost",
            "run_ledger_dir": str(store),
            "run_ledger_release": "24.1.0",
            "intelgraph_controller_state_dir": str(controller),
        },
    }
    results = run_tasks([read], tmp_path)
    said = results[SAY_WHERE]["msg"]
    kept = load(str(store / "24.1.0.json"), "24.1.0")
    assert not legacy.exists() and (legacy.parent / "24.1.0.json.moved-to-localhost").exists()
    if store_has_one:
        assert list(kept["hosts"]) == ["api2"]
        assert said.startswith("The state store on localhost has a run ledger already: it is kept")
    else:
        assert kept == interrupted
        assert said == (
            f"The run ledger {legacy} of an earlier run on this controller was moved into the state store on "
            f"localhost ({store}); this run resumes from it."
        )
    # Moved once: the next read finds nothing more to move.
    again = run_tasks([read], tmp_path)
    assert again[SAY_WHERE].get("skipped") is True
