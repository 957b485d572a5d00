"""Retention of restore points in the state store (roles/restore_point, tasks_from prune), run
through ansible on localhost, which plays the state host and the Redis primary's host."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_tasks

SAY = "intelgraph.ops.restore_point : Say which restore points are kept"


def test_the_newest_are_kept_and_older_ones_go_with_their_snapshots_but_not_those_in_use(
    tmp_path: Path,
) -> None:
    store, backups = tmp_path / "store", tmp_path / "backups"
    points, ledgers = store / "restore-points", store / "ledger"
    ledgers.mkdir(parents=True)
    backups.mkdir()
    ids = [f"2026120{day}T000000Z" for day in range(1, 8)]
    for point in ids:
        (points / point / "env").mkdir(parents=True)
        snapshot = backups / f"{point}.rdb"
        snapshot.write_bytes(b"REDIS")
        (backups / f"{point}.json").write_text("{}")
        manifest = {"id": point, "redis_snapshot": {"node": "localhost", "path": str(snapshot)}}
        (points / point / "manifest.json").write_text(json.dumps(manifest))
    (points / "20261130T000000Z").mkdir()  # a capture its run did not finish: no manifest
    (points / "latest").symlink_to(ids[-1])
    # An unfinished run of another release keeps one; a completed ledger keeps none.
    (ledgers / "24.2.0.json").write_text(json.dumps({"fleet": {"restore_point": {"data": {"id": ids[1]}}}}))
    (ledgers / "24.1.0.completed-20261207T010000Z.json").write_text(
        json.dumps({"fleet": {"restore_point": {"data": {"id": ids[0]}}}})
    )
    tasks = [
        {
            "name": "This run's restore point",
            "ansible.builtin.set_fact": {"restore_point_current_id": ids[2]},
        },
        {
            "name": "Prune",
            "ansible.builtin.include_role": {"name": "intelgraph.ops.restore_point", "tasks_from": "prune"},
            "vars": {
                "restore_point_host": "localhost",
                "restore_point_dir": str(points),
                "restore_point_ledger_dir": str(ledgers),
                "restore_point_keep": 2,
            },
        },
    ]
    said = run_tasks(tasks, tmp_path)[SAY]["msg"]

    kept = [ids[6], ids[5], ids[2], ids[1]]  # the newest two, this run's, the unfinished ledger's
    gone = [ids[4], ids[3], ids[0], "20261130T000000Z"]
    assert sorted(p.name for p in points.iterdir()) == sorted([*kept, "latest"])
    assert sorted(p.name for p in backups.iterdir()) == sorted(
        f"{i}.{ext}" for i in kept for ext in ("rdb", "json")
    )
    assert (points / "latest").resolve() == points / ids[-1]
    assert said == (
        f"Restore points kept in {points} on localhost: {', '.join(kept)} (the newest 2, restore_point_keep, "
        f"and {ids[2]}, {ids[1]}, which this run or an unfinished run ledger uses); deleted, with their Redis "
        f"snapshots: {', '.join(gone)}."
    )

    # Once pruned, a second run deletes nothing.
    again = run_tasks(tasks, tmp_path)[SAY]["msg"]
    assert again.endswith("none deleted.")
