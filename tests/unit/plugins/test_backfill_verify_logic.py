"""intelgraph.ops backfill verification logic: source manifests against PostgreSQL's counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._backfill import (
    BatchCounts,
    Manifest,
    ManifestError,
    checks_as_dicts,
    compare,
    db_counts,
    load_manifests,
    mismatch_message,
    parse_manifest,
    totals,
)


def manifest_text(**fields: object) -> str:
    document = {"batch_id": "hist-0001", "tenant": "acme", "event_count": 50, "source": "archive/x.jsonl"}
    document.update(fields)
    return json.dumps({k: v for k, v in document.items() if v is not ...})


def manifests(*specs: tuple[str, int, str]) -> list[Manifest]:
    return [Manifest(batch, count, tenant, f"/m/{batch}.json") for batch, count, tenant in specs]


# --- parsing ------------------------------------------------------------------------------------


def test_parse_manifest_as_the_seed_writes_it() -> None:
    text = json.dumps(
        {
            "batch_id": "hist-0002",
            "event_count": 50,
            "source": "archive/globex/hist-0002.jsonl",
            "tenant": "globex",
        },
        indent=2,
        sort_keys=True,
    )
    assert parse_manifest(text, "/m/hist-0002.json") == Manifest(
        "hist-0002", 50, "globex", "/m/hist-0002.json"
    )


def test_parse_manifest_without_tenant() -> None:
    assert parse_manifest(manifest_text(tenant=...), "/m/a.json").tenant is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "is not a JSON object"),
        (manifest_text(batch_id=...), "has no batch_id"),
        (manifest_text(batch_id="  "), "has no batch_id"),
        (manifest_text(batch_id=7), "has no batch_id"),
        (manifest_text(event_count=...), "event_count must be a non-negative integer, got None"),
        (manifest_text(event_count="50"), "event_count must be a non-negative integer, got '50'"),
        (manifest_text(event_count=-1), "got -1"),
        (manifest_text(event_count=True), "got True"),
        (manifest_text(event_count=50.5), "got 50.5"),
        (manifest_text(tenant=3), "tenant must be a string"),
    ],
)
def test_parse_manifest_refuses_what_is_not_a_manifest(text: str, says: str) -> None:
    with pytest.raises(ManifestError, match=r"/m/bad\.json") as raised:
        parse_manifest(text, "/m/bad.json")
    assert says in str(raised.value)


def test_load_manifests_reads_the_directory_in_batch_order(tmp_path: Path) -> None:
    for batch, tenant in (("hist-0003", "initech"), ("hist-0001", "acme"), ("hist-0002", "globex")):
        (tmp_path / f"{batch}.json").write_text(manifest_text(batch_id=batch, tenant=tenant))
    (tmp_path / "README.txt").write_text("not a manifest")
    (tmp_path / "sub.json").mkdir()
    loaded = load_manifests(str(tmp_path))
    assert [m.batch_id for m in loaded] == ["hist-0001", "hist-0002", "hist-0003"]
    assert loaded[1].path == str(tmp_path / "hist-0002.json")


def test_load_manifests_follows_the_pattern(tmp_path: Path) -> None:
    (tmp_path / "hist-0001.json").write_text(manifest_text(batch_id="hist-0001"))
    (tmp_path / "live-0001.json").write_text(manifest_text(batch_id="live-0001"))
    assert [m.batch_id for m in load_manifests(str(tmp_path), "hist-*.json")] == ["hist-0001"]


def test_load_manifests_of_an_empty_directory(tmp_path: Path) -> None:
    assert load_manifests(str(tmp_path)) == []


def test_load_manifests_refuses_a_batch_described_twice(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(manifest_text(batch_id="hist-0001"))
    (tmp_path / "b.json").write_text(manifest_text(batch_id="hist-0001"))
    with pytest.raises(ManifestError, match=r"batch hist-0001 is described by both .*a\.json and .*b\.json"):
        load_manifests(str(tmp_path))


def test_load_manifests_names_the_bad_file(tmp_path: Path) -> None:
    (tmp_path / "hist-0001.json").write_text(manifest_text())
    (tmp_path / "hist-0002.json").write_text("{")
    with pytest.raises(ManifestError, match=r"hist-0002\.json is not valid JSON"):
        load_manifests(str(tmp_path))


def test_load_manifests_of_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"manifest directory .*/nowhere does not exist"):
        load_manifests(str(tmp_path / "nowhere"))


# --- what PostgreSQL holds ------------------------------------------------------------------------


def test_db_counts_joins_batch_rows_and_key_counts() -> None:
    counts = db_counts(
        [("hist-0001", "acme", 50), ("hist-0002", "globex", 49)],
        [("hist-0001", 50), ("hist-0003", 7)],
    )
    assert counts == {
        "hist-0001": BatchCounts(50, "acme", 50),
        "hist-0002": BatchCounts(49, "globex", 0),
        "hist-0003": BatchCounts(None, None, 7),
    }


# --- comparison -----------------------------------------------------------------------------------


def test_every_batch_matching() -> None:
    checks = compare(
        manifests(("hist-0001", 50, "acme"), ("hist-0002", 40, "globex")),
        {"hist-0001": BatchCounts(50, "acme", 50), "hist-0002": BatchCounts(40, "globex", 40)},
    )
    assert [c.ok for c in checks] == [True, True]
    assert mismatch_message(checks) == ""
    assert totals(checks) == {
        "batches": 2,
        "batches_matched": 2,
        "batches_mismatched": 0,
        "manifest_events": 90,
        "batch_events": 90,
        "idempotency_keys": 90,
    }


@pytest.mark.parametrize(
    ("found", "problems"),
    [
        (BatchCounts(49, "acme", 50), ["ingest_batches.event_count 49 != manifest 50"]),
        (BatchCounts(50, "acme", 48), ["idempotency keys 48 != manifest 50"]),
        (
            BatchCounts(None, None, 0),
            ["not backfilled: no ingest_batches row", "idempotency keys 0 != manifest 50"],
        ),
        (BatchCounts(50, "globex", 50), ["tenant globex in PostgreSQL, acme in the manifest"]),
        (
            BatchCounts(51, "acme", 51),
            ["ingest_batches.event_count 51 != manifest 50", "idempotency keys 51 != manifest 50"],
        ),
    ],
)
def test_each_way_a_batch_can_differ(found: BatchCounts, problems: list[str]) -> None:
    (check,) = compare(manifests(("hist-0001", 50, "acme")), {"hist-0001": found})
    assert not check.ok
    assert check.problems == problems


def test_a_batch_postgresql_never_saw() -> None:
    (check,) = compare(manifests(("hist-0009", 50, "acme")), {})
    assert (check.batch_events, check.keys) == (None, 0)
    assert (
        check.describe() == "hist-0009 (acme): manifest 50 events, no ingest_batches row, idempotency keys 0"
    )


def test_batches_without_a_manifest_are_not_compared() -> None:
    checks = compare(
        manifests(("hist-0001", 50, "acme")),
        {"hist-0001": BatchCounts(50, "acme", 50), "live-acme-1": BatchCounts(3, "acme", 3)},
    )
    assert [c.batch_id for c in checks] == ["hist-0001"]


def test_a_manifest_without_tenant_takes_postgresql_s() -> None:
    (check,) = compare(
        [Manifest("hist-0001", 50, None, "/m/x.json")], {"hist-0001": BatchCounts(50, "acme", 50)}
    )
    assert check.ok
    assert check.tenant == "acme"


def test_the_message_names_each_mismatched_batch_with_both_counts() -> None:
    checks = compare(
        manifests(("hist-0001", 50, "acme"), ("hist-0002", 51, "globex"), ("hist-0005", 50, "acme")),
        {
            "hist-0001": BatchCounts(50, "acme", 50),
            "hist-0002": BatchCounts(50, "globex", 50),
            "hist-0005": BatchCounts(48, "acme", 50),
        },
    )
    message = mismatch_message(checks)
    assert message.startswith("Backfilled counts differ from the source manifests in 2 of 3 batches: ")
    assert (
        "hist-0002 (globex): manifest 51 events, ingest_batches.event_count 50, idempotency keys 50"
        in message
    )
    assert (
        "hist-0005 (acme): manifest 50 events, ingest_batches.event_count 48, idempotency keys 50" in message
    )
    assert "hist-0001" not in message
    assert totals(checks)["batches_mismatched"] == 2
    assert totals(checks)["manifest_events"] == 151
    assert totals(checks)["batch_events"] == 148


def test_a_tenant_mismatch_is_spelled_out() -> None:
    (check,) = compare(manifests(("hist-0001", 50, "acme")), {"hist-0001": BatchCounts(50, "globex", 50)})
    assert check.describe() == (
        "hist-0001 (acme): manifest 50 events, ingest_batches.event_count 50, idempotency keys 50 "
        "(tenant globex in PostgreSQL, acme in the manifest)"
    )


def test_a_long_list_of_mismatches_is_cut_in_the_message_only() -> None:
    specs = [(f"hist-{n:04d}", 10, "acme") for n in range(1, 26)]
    checks = compare(manifests(*specs), {})
    message = mismatch_message(checks, limit=10)
    assert "in 25 of 25 batches" in message
    assert "hist-0010" in message
    assert "hist-0011" not in message
    assert "and 15 more (see mismatches)" in message
    assert len(checks_as_dicts(checks)) == 25


def test_checks_as_dicts_carry_the_outcome() -> None:
    (check,) = checks_as_dicts(
        compare(manifests(("hist-0001", 50, "acme")), {"hist-0001": BatchCounts(50, "acme", 50)})
    )
    assert check == {
        "batch_id": "hist-0001",
        "tenant": "acme",
        "manifest_events": 50,
        "batch_events": 50,
        "keys": 50,
        "problems": [],
        "ok": True,
    }
