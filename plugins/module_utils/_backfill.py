# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers of intelgraph.ops.backfill_verify: reading the source manifests of historical
ingest batches and comparing them, batch by batch, with what PostgreSQL holds."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

MESSAGE_BATCHES = 10
"""How many mismatched batches a failure message names (the result lists them all)."""


class ManifestError(ValueError):
    """A manifest that cannot be read or does not say what a manifest must say."""


@dataclass(frozen=True)
class Manifest:
    """What the source says of one historical batch."""

    batch_id: str
    event_count: int
    tenant: str | None
    path: str


@dataclass(frozen=True)
class BatchCounts:
    """What PostgreSQL holds of one batch: its ingest_batches row and its idempotency keys."""

    batch_events: int | None  # ingest_batches.event_count; None when the batch has no row
    tenant: str | None
    keys: int


@dataclass
class BatchCheck:
    """One batch compared: the manifest's count, PostgreSQL's counts and what differs."""

    batch_id: str
    tenant: str | None
    manifest_events: int
    batch_events: int | None
    keys: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        """``hist-0002 (acme): manifest 51 events, ingest_batches.event_count 50, idempotency keys 50``."""
        who = f"{self.batch_id} ({self.tenant})" if self.tenant else self.batch_id
        recorded = (
            "no ingest_batches row"
            if self.batch_events is None
            else (f"ingest_batches.event_count {self.batch_events}")
        )
        detail = f"manifest {self.manifest_events} events, {recorded}, idempotency keys {self.keys}"
        extra = [p for p in self.problems if p.startswith("tenant")]
        return f"{who}: {detail}" + (f" ({'; '.join(extra)})" if extra else "")


def parse_manifest(text: str, path: str) -> Manifest:
    """One manifest file: a JSON object with ``batch_id`` and ``event_count`` (and ``tenant``)."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ManifestError(f"manifest {path} is not valid JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise ManifestError(f"manifest {path} is not a JSON object")
    batch_id = document.get("batch_id")
    if not isinstance(batch_id, str) or not batch_id.strip():
        raise ManifestError(f"manifest {path} has no batch_id (a non-empty string)")
    count = document.get("event_count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ManifestError(
            f"manifest {path} (batch {batch_id}): event_count must be a non-negative integer, got {count!r}"
        )
    tenant = document.get("tenant")
    if tenant is not None and not isinstance(tenant, str):
        raise ManifestError(f"manifest {path} (batch {batch_id}): tenant must be a string, got {tenant!r}")
    return Manifest(batch_id.strip(), count, tenant or None, path)


def load_manifests(directory: str, pattern: str = "*.json") -> list[Manifest]:
    """Every manifest of ``directory`` in batch order; ManifestError on an unreadable one or a
    batch described twice."""
    root = Path(directory)
    if not root.is_dir():
        raise ManifestError(f"manifest directory {directory} does not exist")
    manifests: dict[str, Manifest] = {}
    for path in sorted(root.glob(pattern)):
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ManifestError(f"cannot read manifest {path}: {exc.strerror}") from exc
        manifest = parse_manifest(text, str(path))
        if manifest.batch_id in manifests:
            raise ManifestError(
                f"batch {manifest.batch_id} is described by both {manifests[manifest.batch_id].path} "
                f"and {path}"
            )
        manifests[manifest.batch_id] = manifest
    return [manifests[batch] for batch in sorted(manifests)]


def db_counts(
    batch_rows: Iterable[tuple[str, str | None, int]], key_rows: Iterable[tuple[str, int]]
) -> dict[str, BatchCounts]:
    """Counts per batch from (batch_id, tenant, event_count) rows of ingest_batches and
    (batch_id, count) rows of ingest_idempotency_keys."""
    keys = {batch: int(count) for batch, count in key_rows}
    batches = {batch: (tenant, int(count)) for batch, tenant, count in batch_rows}
    return {
        batch: BatchCounts(
            batches[batch][1] if batch in batches else None,
            batches[batch][0] if batch in batches else None,
            keys.get(batch, 0),
        )
        for batch in set(keys) | set(batches)
    }


def compare(manifests: Sequence[Manifest], counts: Mapping[str, BatchCounts]) -> list[BatchCheck]:
    """Each manifest against PostgreSQL: the batch must have its ingest_batches row with the
    manifest's event count, as many idempotency keys, and the manifest's tenant."""
    checks = []
    for manifest in manifests:
        found = counts.get(manifest.batch_id, BatchCounts(None, None, 0))
        problems = []
        if found.batch_events is None:
            problems.append("not backfilled: no ingest_batches row")
        elif found.batch_events != manifest.event_count:
            problems.append(
                f"ingest_batches.event_count {found.batch_events} != manifest {manifest.event_count}"
            )
        if found.keys != manifest.event_count:
            problems.append(f"idempotency keys {found.keys} != manifest {manifest.event_count}")
        if manifest.tenant and found.tenant and found.tenant != manifest.tenant:
            problems.append(f"tenant {found.tenant} in PostgreSQL, {manifest.tenant} in the manifest")
        checks.append(
            BatchCheck(
                manifest.batch_id,
                manifest.tenant or found.tenant,
                manifest.event_count,
                found.batch_events,
                found.keys,
                problems,
            )
        )
    return checks


def totals(checks: Sequence[BatchCheck]) -> dict[str, int]:
    """The verified totals: batches compared and matched, and the events each side counts."""
    return {
        "batches": len(checks),
        "batches_matched": sum(1 for check in checks if check.ok),
        "batches_mismatched": sum(1 for check in checks if not check.ok),
        "manifest_events": sum(check.manifest_events for check in checks),
        "batch_events": sum(check.batch_events or 0 for check in checks),
        "idempotency_keys": sum(check.keys for check in checks),
    }


def mismatch_message(checks: Sequence[BatchCheck], limit: int = MESSAGE_BATCHES) -> str:
    """The failure message naming the mismatched batches with the manifest's and PostgreSQL's counts."""
    bad = [check for check in checks if not check.ok]
    if not bad:
        return ""
    named = "; ".join(check.describe() for check in bad[:limit])
    more = f"; and {len(bad) - limit} more (see mismatches)" if len(bad) > limit else ""
    return (
        f"Backfilled counts differ from the source manifests in {len(bad)} of {len(checks)} batches: "
        f"{named}{more}. Check those batches' source archives and ingest_events, run the backfill again, "
        "then verify again."
    )


def checks_as_dicts(checks: Sequence[BatchCheck]) -> list[dict[str, object]]:
    return [{**asdict(check), "ok": check.ok} for check in checks]
