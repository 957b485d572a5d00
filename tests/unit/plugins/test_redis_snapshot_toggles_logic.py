"""intelgraph.ops Redis snapshot and feature-toggle logic."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._redis import (
    bgsave_finished,
    glob_escape,
    keyspace_keys,
    snapshot_paths,
    toggle_name_errors,
    toggle_plan,
)


def persistence(**overrides: Any) -> dict[str, Any]:
    info = {
        "rdb_bgsave_in_progress": 0,
        "rdb_last_save_time": 100,
        "rdb_last_bgsave_status": "ok",
        "rdb_saves": 7,
        "aof_enabled": 0,
        "aof_rewrite_in_progress": 0,
    }
    info.update(overrides)
    return info


@pytest.mark.parametrize(
    ("info", "state"),
    [
        (persistence(), None),  # nothing happened yet (the save is scheduled)
        (persistence(rdb_bgsave_in_progress=1, rdb_saves=8), None),  # running
        (persistence(rdb_last_save_time=101, rdb_saves=8), True),  # done
        (persistence(rdb_last_save_time=101, rdb_saves=7), None),  # LASTSAVE moved, but not by a save of ours
        (persistence(rdb_last_bgsave_status="err", rdb_saves=8), False),  # ours ran and failed
        (persistence(rdb_last_save_time=105, rdb_saves=9, rdb_last_bgsave_status="ok"), True),
    ],
    ids=["scheduled", "running", "done", "aof-rewrite-only", "failed", "two-saves"],
)
def test_bgsave_finished_with_the_save_count(info: dict[str, Any], state: bool | None) -> None:
    assert bgsave_finished(100, info, before_saves=7) is state


@pytest.mark.parametrize(
    ("info", "before_status", "state"),
    [
        (persistence(), "ok", None),
        (persistence(rdb_last_save_time=101), "ok", True),
        (persistence(rdb_last_bgsave_status="err"), "ok", False),
        (persistence(rdb_last_bgsave_status="err"), "err", None),  # an old failure says nothing yet
        (persistence(rdb_last_save_time=101, rdb_last_bgsave_status="err"), "ok", False),
    ],
)
def test_bgsave_finished_without_the_save_count(
    info: dict[str, Any], before_status: str, state: bool | None
) -> None:
    """Redis before 7 has no rdb_saves: LASTSAVE and the status tell."""
    info.pop("rdb_saves")
    assert bgsave_finished(100, info, before_saves=None, before_status=before_status) is state


def test_keyspace_keys_adds_every_database() -> None:
    keyspace = {"db0": {"keys": 5, "expires": 1}, "db3": "keys=2,expires=0,avg_ttl=0", "other": {"keys": 9}}
    assert keyspace_keys(keyspace) == 7
    assert keyspace_keys({}) == 0


@pytest.mark.parametrize(
    ("snapshot_id", "rdb"),
    [("20261127T190000Z", "/b/20261127T190000Z.rdb"), ("v24.1/x y", "/b/v24.1_x_y.rdb")],
)
def test_snapshot_paths(snapshot_id: str, rdb: str) -> None:
    assert snapshot_paths("/b", snapshot_id)[0] == rdb
    assert snapshot_paths("/b", snapshot_id)[1] == rdb[:-4] + ".json"


@pytest.mark.parametrize("snapshot_id", ["", ".hidden", "..", "."])
def test_snapshot_ids_that_cannot_name_a_file(snapshot_id: str) -> None:
    with pytest.raises(ValueError):
        snapshot_paths("/b", snapshot_id)


@pytest.mark.parametrize(
    ("current", "wanted", "to_set", "to_delete"),
    [
        ({}, {}, {}, []),
        ({"a": "on"}, {"a": "on"}, {}, []),
        ({"a": "on", "b": "off"}, {"a": "off"}, {"a": "off"}, ["b"]),
        ({}, {"rps_limiter": "on", "n": 1}, {"n": "1", "rps_limiter": "on"}, []),
        ({"residency_guard": "on", "rps_limiter": "on"}, {}, {}, ["residency_guard", "rps_limiter"]),
    ],
)
def test_toggle_plan(current: dict, wanted: dict, to_set: dict, to_delete: list) -> None:
    assert toggle_plan(current, wanted) == {"set": to_set, "delete": to_delete}


def test_toggle_names_and_prefix_are_checked() -> None:
    assert toggle_name_errors("intelgraph:features:", ["rps_limiter", "residency_guard"]) == []
    errors = toggle_name_errors("", ["ok", "bad name", "glob*"])
    assert len(errors) == 3
    assert "prefix must not be empty" in errors[0]


@pytest.mark.parametrize(
    ("text", "escaped"),
    [("intelgraph:features:", "intelgraph:features:"), ("a*b?[c]\\", "a\\*b\\?\\[c\\]\\\\")],
)
def test_glob_escape(text: str, escaped: str) -> None:
    assert glob_escape(text) == escaped
