"""Post-upgrade validation and the release report on the sandbox fleet."""

from __future__ import annotations

import json
import re

from sandbox import Fleet


def test_validation_measures_and_reports_and_gates_stop_the_run(deployed: Fleet) -> None:
    report_dir = deployed.reports / "24.1.0"
    for stale in report_dir.glob("release-report.*"):
        stale.unlink()
    with deployed.traffic():
        upgrade = deployed.playbook("playbooks/upgrade.yml")
        assert upgrade.ok, f"upgrade failed, see {upgrade.log}"

        # The report: no placeholder left, and its figures are the JSON's.
        data = json.loads((report_dir / "release-report.json").read_text())
        markdown = (report_dir / "release-report.md").read_text()
        assert "[Awaiting Input" not in markdown
        for label, line in [
            ("p95 read latency", "Read p95"),
            ("p95 write latency", "Write p95"),
            ("Error rate", "Error\u2011rate"),  # the note spells it with a non-breaking hyphen
            ("p95 subscription latency", "Sub p95"),
            ("p95 ingest latency", "Ingest p95"),
        ]:
            assert f"- {line}: {data['values'][label]}\n" in markdown
        assert f"**Date:** {data['values']['Date of release']}" in markdown
        gates = {g["name"]: g for g in data["validation"]["gates"]}
        assert set(gates) == {"read_p95", "write_p95", "subscription_p95", "ingest_p95", "error_rate"}
        assert all(g["status"] == "pass" and g["samples"] > 0 for g in gates.values())
        assert data["values"]["p95 read latency"] == f"{gates['read_p95']['worst'] * 1000:.1f} ms"
        assert data["versions"] == dict.fromkeys(deployed.groups["api"] + deployed.groups["ingest"], "24.1.0")
        assert {s["role"] for s in data["signoffs"]} == {"Release Captain", "On-call SRE"}

        # The hit ratio is the window's: hits and misses measured by the report match a
        # ratio within [0, 1] and at least the 75% floor on the sandbox's traffic.
        cache = data["validation"]["cache"]
        assert cache["hits"] + cache["misses"] > 0
        assert cache["ratio"] == cache["hits"] / (cache["hits"] + cache["misses"])
        assert cache["ratio"] >= 0.75

        # A replayed batch changed no row: counted again here in PostgreSQL.
        with deployed.pg() as db:
            for replay in data["validation"]["replay"]:
                rows = db.execute(
                    "SELECT count(*) FROM ingest_events WHERE batch_id = %s", (replay["batch_id"],)
                )
                assert rows.fetchone()[0] == replay["rows_before"] == replay["rows_after"]
                keys = db.execute(
                    "SELECT count(*) FROM ingest_idempotency_keys WHERE batch_id = %s", (replay["batch_id"],)
                ).fetchone()[0]
                assert keys == replay["events"]

        # An impossible target fails the run, naming the query and the value measured.
        strict = deployed.playbook(
            "playbooks/validate.yml", extra_vars={"validate_window": 10, "validate_read_p95_target": 0.000001}
        )
        assert not strict.ok
        assert re.search(
            r"gate read_p95 failed: worst [0-9.e-]+ .*intelgraph_http_request_duration_seconds_bucket",
            strict.output,
        )

        # A gate with no data is inconclusive and stops the run.
        blind = deployed.playbook(
            "playbooks/validate.yml",
            extra_vars={
                "validate_window": 10,
                "validate_gates": [
                    {"name": "absent", "query": "intelgraph_metric_that_does_not_exist", "threshold": 1}
                ],
            },
        )
        assert not blind.ok
        assert "gate absent is inconclusive" in blind.output
