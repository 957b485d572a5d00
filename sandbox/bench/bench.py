#!/usr/bin/env python3
"""How long the upgrade takes on the sandbox fleet, and how much of that is Ansible's own.

    INTELGRAPH_SANDBOX_ID=3 make bench                    # sizes 3 and 12 (BENCH_SIZES: others)
    .venv/bin/python sandbox/bench/bench.py --sizes 3,12,48

For every run the fleet is made anew (fleet_down, fleet_up, site.yml and the seed: 24.0.0),
steady traffic is started, and playbooks/upgrade.yml runs to 24.1.0. Measured per run:

- wall: the upgrade's ansible-playbook, start to exit;
- floor: the waits nothing can avoid, measured in the same run from when each task started
  and when its last host finished (the bench_task_timer callback): HAProxy drains, service
  restarts until ready, hosts put back in service (until HAProxy sees them UP), ingest
  workers quiesced and their queue drained, restarted workers consuming again, the SLO
  gates' observation window, and the commands of the release itself (bootstrap and
  migrations, backfill, smoke, replay);
- wall / floor, and the controller's seconds per task and host: (wall - floor) divided by
  the task results of hosts that ran (skipped ones left out);
- in-window time, from the window's opening play to the end of its closing one, next to the
  estimate `playbooks/plan.yml` gives before the upgrade (and their ratio);
- the controller's overhead per API host: each batch of the API rollout, from its first task to
  the next batch's (the canary's bake and comparison left out), less its own drains and
  restarts until ready, divided by its hosts, and for the hosts after the canary their share of
  the play that installs their release at once; the median over the batches, and the largest;
- the same upgrade with stock Ansible settings (no pipelining, no ControlPersist, forks 5),
  and its wall time against ours, at each size up to 12 API hosts;
- wall time with 3 and 12 API hosts (a generated inventory: the sandbox's, with api4...
  added), or the sizes given.

It asserts nothing: it prints what it measured, and writes it to
reports/bench/bench-<UTC time>.json and .md. A run that fails is reported as failed, with
its log. Every playbook's output is kept in .sandbox/logs.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests/e2e"))
sys.path.insert(0, str(ROOT / "tests"))

from lanes import cpu_times, machine_busy  # noqa: E402 (tests is put on the path above)

from sandbox import Fleet  # noqa: E402 (tests/e2e is put on the path above)

# Stock Ansible: no pipelining, no ControlMaster/ControlPersist, 5 forks.
STOCK = {"ANSIBLE_PIPELINING": "False", "ANSIBLE_SSH_ARGS": "", "ANSIBLE_FORKS": "5"}
# The stock run follows each size up to this many API hosts (a larger fleet takes too long).
STOCK_UP_TO = 12
CALLBACKS = "ansible.posix.profile_tasks,intelgraph.ops.phase_timer,bench_task_timer"

# The unavoidable waits, by the names of the tasks that wait (a name starts with one of these),
# and in which plays they count. None: any play.
ROLLOUT = "Upgrade | roll out"
WAITS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "drain": (
        ROLLOUT,
        ("Take the host out of every load balancer, in maintenance once its sessions reach 0",),
    ),
    "restart to ready": (
        ROLLOUT,
        ("Switch the service and start it, restarting it when", "Wait until the service answers ready on"),
    ),
    "back in service": (ROLLOUT, ("Put the host back in service on every load balancer",)),
    "ingest quiesce and queue drain": (
        ROLLOUT,
        ("Wait until the quiesced worker holds no message", "Wait until the ingest queue has drained"),
    ),
    "ingest consuming again": (ROLLOUT, ("Check that the restarted worker consumes",)),
    # The gates are held in the background; the window is waited out by the task that polls them.
    "gate window": (None, ("Wait for the SLO gates",)),
    "release commands": (
        None,
        (
            "Run the bootstrap and the migrations under the advisory lock",
            "Run pnpm --filter intelgraph-server run backfill",
            "Run make smoke",
            "Replay one ingest batch of each representative tenant",
        ),
    ),
}
RAN = ("ok", "changed", "failed", "unreachable")
# The API rollout's batches, each begun by the phase's include (playbooks/upgrade.yml); the canary
# judged after the first, from its own include on.
BATCH = "Move the host to "
CANARY = "Judge the canary against "
# The play that installs the release on the API hosts after the canary, all at once, before
# their batches (playbooks/upgrade.yml).
INSTALL = "Upgrade | install the release on the other API hosts"
OWN_WAITS = ("drain", "restart to ready")


@dataclass
class Run:
    label: str
    api_hosts: int
    settings: str  # "project" (ansible.cfg) or "stock"
    ok: bool = False
    wall: float = 0.0
    floor: float = 0.0
    floor_by_kind: dict[str, float] = field(default_factory=dict)
    task_hosts: int = 0
    skipped: int = 0
    hosts: int = 0
    phases: list[dict[str, Any]] = field(default_factory=list)
    log: str = ""
    failure: str = ""  # why a run that failed did, when the bench could tell
    deploy_seconds: float = 0.0
    host_overheads: list[float] = field(default_factory=list)
    in_window: float | None = None
    estimate: float | None = None
    requests_sent: int = 0
    requests_failed: int = 0
    load: tuple[float, float] = (
        0.0,
        0.0,
    )  # the machine's 1-minute load average as the upgrade started and ended
    stolen: float = 0.0  # the share of the CPUs' time the hypervisor took during the upgrade (steal)

    @property
    def ratio(self) -> float | None:
        return round(self.wall / self.floor, 2) if self.ok and self.floor else None

    @property
    def host_overhead(self) -> float | None:
        """The median of the API rollout's overhead per host, over its batches."""
        return round(statistics.median(self.host_overheads), 2) if self.ok and self.host_overheads else None

    @property
    def controller_per_task_host(self) -> float | None:
        if not self.ok or not self.task_hosts:
            return None
        return round((self.wall - self.floor) / self.task_hosts, 3)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "api_hosts": self.api_hosts,
            "settings": self.settings,
            "ok": self.ok,
            "wall_seconds": round(self.wall, 1),
            "floor_seconds": round(self.floor, 1),
            "floor_by_kind": {k: round(v, 1) for k, v in self.floor_by_kind.items()},
            "wall_over_floor": self.ratio,
            "task_host_results": self.task_hosts,
            "skipped_results": self.skipped,
            "hosts": self.hosts,
            "controller_seconds_per_task_host": self.controller_per_task_host,
            "api_host_overhead_seconds": self.host_overheads,
            "api_host_overhead_median": self.host_overhead,
            "in_window_seconds": self.in_window,
            "plan_estimate_seconds": self.estimate,
            "phases": self.phases,
            "requests_sent": self.requests_sent,
            "requests_failed": self.requests_failed,
            "deploy_seconds": round(self.deploy_seconds, 1),
            "load_1min_start_end": list(self.load),
            "cpu_stolen_by_hypervisor": self.stolen,
            "log": self.log,
            "failure": self.failure,
        }


def inventory_for(api_hosts: int) -> Path:
    """The sandbox inventory, or a copy of its hosts with api4... added (addresses .104 and up)."""
    base = ROOT / "inventories/sandbox"
    if api_hosts == 3:
        return base
    doc = (base / "hosts.yml").read_text()
    lines = []
    for n in range(4, api_hosts + 1):
        lines.append(f"        api{n}: {{ansible_host: 10.89.40.{100 + n}}}")
    anchor = "        api3: {ansible_host: 10.89.40.23}\n"
    assert anchor in doc, "inventories/sandbox/hosts.yml no longer lists api3 as the bench expects"
    doc = doc.replace(anchor, anchor + "\n".join(lines) + "\n")
    target = ROOT / ".sandbox" / "bench" / f"inventory-api{api_hosts}"
    target.mkdir(parents=True, exist_ok=True)
    (target / "hosts.yml").write_text(f"# Made by sandbox/bench/bench.py: {api_hosts} API hosts.\n" + doc)
    for shared in ("group_vars", "which_fleet.yml", "which_fleet_addresses.yml"):
        link = target / shared
        if not link.exists():
            link.symlink_to(base / shared)
    return target


def floor_of(tasks: list[dict[str, Any]]) -> tuple[dict[str, float], int, int, int]:
    """(seconds per kind of wait, task results of hosts that ran, skipped results, hosts)."""
    by_kind = dict.fromkeys(WAITS, 0.0)
    ran = skipped = 0
    hosts: set[str] = set()
    for task in tasks:
        results = task["hosts"]
        done = [r["end"] for r in results.values() if r["status"] in RAN]
        ran += len(done)
        skipped += sum(1 for r in results.values() if r["status"] == "skipped")
        hosts.update(h for h, r in results.items() if r["status"] in RAN)
        if not done:
            continue
        name = task["name"].split(" : ", 1)[-1]  # without the "namespace.collection.role : " of a role's task
        for kind, (play, prefixes) in WAITS.items():
            if (play is None or task["play"].startswith(play)) and name.startswith(prefixes):
                by_kind[kind] += max(done) - task["start"]
                break
    return by_kind, ran, skipped, len(hosts)


def api_host_overhead(tasks: list[dict[str, Any]]) -> list[float]:
    """The controller's seconds per API host of each batch of the API rollout: the batch's time
    (its first task's start to the next batch's, or to the first task after the play), less the
    canary's judging when it ran in the batch, less the batch's own drain and restart-to-ready
    waits (each from its task's start to its last host's result), divided by the batch's hosts.
    The hosts after the canary install their release in one play before their batches: that
    play's time (its first task's start to the next play's first) divided by its hosts is added
    to each of theirs."""
    own = tuple(prefix for kind in OWN_WAITS for prefix in WAITS[kind][1])
    overheads: list[float] = []
    batch: dict[str, Any] | None = None
    # The install play, once it has ended (before the batches after it begin).
    install: dict[str, Any] = {"start": None, "end": None, "hosts": set()}

    def close(at: float) -> None:
        if batch is not None:
            span = (batch["canary"] or at) - batch["start"]
            share = (install["end"] - install["start"]) / len(install["hosts"]) if install["end"] else 0.0
            overheads.append(round((span - batch["waits"]) / batch["hosts"] + share, 3))

    for task in tasks:
        name = task["name"].split(" : ", 1)[-1]
        if task["play"].startswith(INSTALL):
            if install["start"] is None:
                install["start"] = task["start"]
            install["hosts"].update(task["hosts"])
        elif install["start"] is not None and install["end"] is None:
            install["end"] = task["start"]
        if not task["play"].startswith(ROLLOUT + " the API"):
            if batch is not None:
                close(task["start"])
                batch = None
            continue
        done = [r["end"] for r in task["hosts"].values() if r["status"] in RAN]
        if name.startswith(BATCH):
            close(task["start"])
            batch = {
                "start": task["start"],
                "hosts": max(len(task["hosts"]), 1),
                "waits": 0.0,
                "canary": None,
            }
        elif batch is None:
            continue
        elif name.startswith(CANARY) and done and batch["canary"] is None:
            batch["canary"] = task["start"]
        elif name.startswith(own) and done and batch["canary"] is None:
            batch["waits"] += max(done) - task["start"]
    if batch is not None and tasks:
        close(max([r["end"] for r in tasks[-1]["hosts"].values()] or [tasks[-1]["start"]]))
    return overheads


ESTIMATE = re.compile(r"Estimated (\d+)m (\d\d)s inside the maintenance window")
WINDOW_OPENS, WINDOW_CLOSES = (
    "Upgrade | open the maintenance window",
    "Upgrade | close the maintenance window",
)


def plan_estimate(output: str) -> float | None:
    """The seconds playbooks/plan.yml estimates the change needs inside the window."""
    found = ESTIMATE.search(output)
    return int(found.group(1)) * 60 + int(found.group(2)) if found else None


def in_window(phases: list[dict[str, Any]]) -> float | None:
    """Seconds from the start of the play that opens the window to the end of the one that closes it."""
    opened = next((p["start"] for p in phases if p["name"] == WINDOW_OPENS), None)
    closed = next((p.get("end") for p in phases if p["name"] == WINDOW_CLOSES), None)
    return round(closed - opened, 1) if opened is not None and closed is not None else None


def resources() -> str:
    """The machine's memory, load and running containers, as figures for a run that failed."""
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    available = int(meminfo["MemAvailable"].split()[0]) / 1024 / 1024
    total = int(meminfo["MemTotal"].split()[0]) / 1024 / 1024
    containers = subprocess.run(
        ["podman", "ps", "-q"], capture_output=True, text=True, timeout=60
    ).stdout.split()
    return (
        f"memory available {available:.1f} of {total:.1f} GiB, {load_average()} on {os.cpu_count()} CPUs, "
        f"{len(containers)} containers running"
    )


def load_average() -> str:
    """The machine's load averages over 1, 5 and 15 minutes, e.g. "load 1.9 2.0 1.7"."""
    load = os.getloadavg()
    return f"load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"


def fleet_log(failed: AssertionError) -> str:
    """The log a Fleet assertion names ("..., see <path>"), else none."""
    found = re.search(r"see (\S+)", str(failed))
    return found.group(1) if found else ""


def first_failure(log: str) -> str:
    """The first failed host of a playbook log and its message, e.g. "api94: Status code was 503"."""
    text = Path(log).read_text() if log and Path(log).is_file() else ""
    found = re.search(r"^fatal: \[([^\]]+)\]: FAILED! =>.*?^\s+msg: (.+?)$", text, re.MULTILINE | re.DOTALL)
    return f"{found.group(1)}: {found.group(2).strip()}" if found else ""


def bench_one(
    label: str, api_hosts: int, stock: bool, stamp: str, extra_vars: dict[str, Any] | None = None
) -> Run:
    run = Run(label, api_hosts, "stock" if stock else "project")
    fleet = Fleet(inventory=inventory_for(api_hosts))
    print(f"== {label}: a fresh 24.0.0 fleet with {api_hosts} API hosts", flush=True)
    began = time.monotonic()
    fleet.down()
    try:
        fleet.up()
        fleet.deploy()
    except AssertionError as failed:  # fleet_up, site.yml or the seed: the fleet did not come up
        run.log = fleet_log(failed)
        run.failure = f"the fleet did not come up ({first_failure(run.log) or failed}); {resources()}"
        print(f"   FAILED: {run.failure}", flush=True)
        return run
    run.deploy_seconds = time.monotonic() - began
    # Variables for every run, when asked (--extra-vars): e.g. a longer window than the inventory's
    # for a fleet whose estimate does not fit it, since the pre-check stops such a run.
    plan = fleet.playbook("playbooks/plan.yml", extra_vars=extra_vars, timeout=1800)
    run.estimate = plan_estimate(plan.output)

    data = ROOT / "reports" / "bench" / "runs" / f"{stamp}-{label}"
    data.mkdir(parents=True, exist_ok=True)
    env = {
        "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": CALLBACKS,
        "BENCH_TASKS_FILE": str(data / "tasks.json"),
        "INTELGRAPH_TIMINGS_FILE": str(data / "phases.json"),
        **(STOCK if stock else {}),
    }
    print(f"== {label}: upgrade under steady traffic ({run.settings} settings)", flush=True)
    with fleet.traffic() as stats:
        began, load, cpu = time.monotonic(), os.getloadavg()[0], cpu_times()
        upgrade = fleet.playbook("playbooks/upgrade.yml", extra_vars=extra_vars, env=env, timeout=3600)
        run.wall = time.monotonic() - began
        run.load = (round(load, 1), round(os.getloadavg()[0], 1))
        run.stolen = machine_busy(cpu, cpu_times())["steal"]
    run.ok = upgrade.ok
    if not upgrade.ok:
        run.failure = f"the upgrade failed ({first_failure(str(upgrade.log))}); {resources()}"
    run.log = str(upgrade.log.relative_to(ROOT))
    run.requests_sent = stats.get("requests_sent", 0)
    run.requests_failed = stats.get("requests_failed", 0)
    tasks = json.loads((data / "tasks.json").read_text())["tasks"] if (data / "tasks.json").exists() else []
    run.floor_by_kind, run.task_hosts, run.skipped, run.hosts = floor_of(tasks)
    run.floor = sum(run.floor_by_kind.values())
    run.host_overheads = api_host_overhead(tasks)
    if (data / "phases.json").exists():
        phases = json.loads((data / "phases.json").read_text())["phases"]
        run.phases = [{"phase": p["name"], "seconds": p["seconds"]} for p in phases]
        run.in_window = in_window(phases)
    state = "ok" if run.ok else f"FAILED (see {run.log})"
    print(
        f"   {state}: wall {run.wall:.1f} s, floor {run.floor:.1f} s, "
        f"API host overhead {seconds(run.host_overhead)} (median), in the window {seconds(run.in_window)} "
        f"(plan.yml estimated {seconds(run.estimate)}), failed requests {run.requests_failed}",
        flush=True,
    )
    return run


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def markdown(runs: list[Run], started: str, machine: str) -> str:
    out = [
        f"# Upgrade benchmark, sandbox fleet, {started}",
        "",
        f"Machine: {machine}. Each run: a fresh 24.0.0 fleet, steady traffic (20 requests/s, 5 ingest",
        "events/s), playbooks/upgrade.yml to 24.1.0. Floor: the waits nothing can avoid (drains, restarts",
        "until ready, back in service, ingest quiesce and queue drain, the SLO gates' window, the",
        "release's own commands), from each wait task's start to its last host's result. API host",
        "overhead: each batch of the API rollout (the canary's judging left out) less its own drains",
        "and restarts until ready, per host, with the hosts after the canary's share of the play that",
        "installs their release at once.",
        "",
        "| run | API hosts | settings | result | wall | floor | wall/floor | task-host results | controller s per task-host "
        "| API host overhead, median (max) | in window | plan.yml estimate | failed requests | load start/end "
        "| taken by the hypervisor |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        out.append(
            f"| {r.label} | {r.api_hosts} | {r.settings} | {'ok' if r.ok else 'FAILED'} | {seconds(r.wall)} "
            f"| {seconds(r.floor)} | {r.ratio if r.ratio is not None else '-'} | {r.task_hosts} "
            f"| {r.controller_per_task_host if r.controller_per_task_host is not None else '-'} "
            f"| {seconds(r.host_overhead)}{f' ({max(r.host_overheads):.1f} s)' if r.host_overhead is not None else ''} "
            f"| {seconds(r.in_window)} | {seconds(r.estimate)}{estimate_ratio(r)} | {r.requests_failed} "
            f"| {r.load[0]} / {r.load[1]} | {r.stolen:.0%} |"
        )
    out += ["", "Floor by kind of wait (seconds):", ""]
    kinds = list(WAITS)
    out.append("| run | " + " | ".join(kinds) + " |")
    out.append("|---|" + "---|" * len(kinds))
    for r in runs:
        out.append(f"| {r.label} | " + " | ".join(f"{r.floor_by_kind.get(k, 0):.1f}" for k in kinds) + " |")
    out += [
        "",
        "Each wait is timed as Ansible waited it, polls included: slower connections make it longer",
        "(the stock run's floor). The machine may be shared: the load columns say how busy it was, and",
        "the last how much of its CPUs' time its hypervisor took for others (steal) during the upgrade.",
        "",
    ]
    for stock in (r for r in runs if r.settings == "stock" and r.ok):
        ours = next((r for r in runs if r.settings == "project" and r.api_hosts == stock.api_hosts), None)
        if ours and ours.ok:
            out.append(
                f"Stock Ansible settings (no pipelining, no ControlPersist, forks 5), {stock.api_hosts} API hosts: "
                f"{stock.wall:.1f} s against {ours.wall:.1f} s, {stock.wall / ours.wall:.2f} times ours; above the "
                f"floor {stock.wall - stock.floor:.1f} s against {ours.wall - ours.floor:.1f} s."
            )
    scaled = sorted((r for r in runs if r.settings == "project" and r.ok), key=lambda r: r.api_hosts)
    if len(scaled) > 1:
        steps = [
            f"{b.api_hosts} API hosts {b.wall:.1f} s ({(b.wall - a.wall) / (b.api_hosts - a.api_hosts):+.1f} s "
            f"per API host over {a.api_hosts})"
            for a, b in itertools.pairwise(scaled)
        ]
        out.append(
            f"Growth: {scaled[0].api_hosts} API hosts {scaled[0].wall:.1f} s; " + "; ".join(steps) + "."
        )
    failed = [r for r in runs if not r.ok]
    for r in failed:
        out.append(f"Run {r.label} failed: {r.failure or 'the upgrade failed'}; see {r.log}.")
    held = [r.api_hosts for r in runs if r.ok and r.settings == "project"]
    if failed:
        out.append(f"Largest fleet upgraded: {max(held)} API hosts." if held else "No fleet was upgraded.")
    out.append("")
    return "\n".join(out)


def estimate_ratio(run: Run) -> str:
    """The estimate against the measured in-window time, e.g. ' (1.08x)'; none for a run with
    stock settings, which the estimate (made for the project's) does not describe."""
    if run.settings != "project" or not (run.estimate and run.in_window):
        return ""
    return f" ({run.estimate / run.in_window:.2f}x)"


def machine() -> str:
    return f"{os.cpu_count()} CPUs, {load_average()} at the start"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="3,12", help="API host counts to run, comma-separated (3 first)")
    parser.add_argument(
        "--no-stock",
        action="store_true",
        help=f"leave out the runs with stock Ansible settings (at each size up to {STOCK_UP_TO} API hosts)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench")
    parser.add_argument(
        "--extra-vars",
        type=json.loads,
        default=None,
        help="variables (JSON) for plan.yml and upgrade.yml of every run, e.g. "
        "'{\"intelgraph_window_minutes\": 20}' for a fleet whose estimate does not fit the sandbox's "
        "15-minute window; the time measured inside the window is printed either way",
    )
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if not sizes or sizes[0] < 3:
        parser.error(
            "--sizes: API host counts of 3 or more (the rollout keeps 2 in service besides the one moving)"
        )

    started = datetime.datetime.now(datetime.UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    where = machine()
    plan = runs_to_make(sizes, stock=not args.no_stock)
    runs: list[Run] = []
    for label, size, stock in plan:
        runs.append(bench_one(label, size, stock, stamp, args.extra_vars))
        text = write(
            runs, args.out, stamp, started, where
        )  # after every run: an interrupted bench keeps its results

    # A fleet larger than the sandbox's own is removed; the next user of the sandbox makes its own.
    if any(size != 3 for _, size, _ in plan):
        Fleet(inventory=inventory_for(sizes[-1])).down()

    print()
    print(text)
    written = (args.out / f"bench-{stamp}.md").resolve()
    print(f"Written: {written.relative_to(ROOT) if written.is_relative_to(ROOT) else written} and .json")
    return 0


def runs_to_make(sizes: list[int], stock: bool) -> list[tuple[str, int, bool]]:
    """(label, API hosts, stock settings) of each run, in order: each size with our settings, then
    with stock settings when it has at most STOCK_UP_TO API hosts."""
    runs = []
    for size in sizes:
        runs.append((f"api{size}", size, False))
        if stock and size <= STOCK_UP_TO:
            runs.append((f"api{size}-stock", size, True))
    return runs


def write(runs: list[Run], out: Path, stamp: str, started: datetime.datetime, where: str) -> str:
    """Write the results so far to <out>/bench-<stamp>.json and .md; return the Markdown."""
    text = markdown(runs, started.strftime("%Y-%m-%d %H:%M UTC"), where)
    out.mkdir(parents=True, exist_ok=True)
    document = {
        "started": started.isoformat(),
        "machine": where,
        "sandbox": Fleet().name,
        "stock_settings": STOCK,
        "runs": [r.to_dict() for r in runs],
        "logs": str(Fleet().logs.relative_to(ROOT)),
    }
    (out / f"bench-{stamp}.json").write_text(json.dumps(document, indent=2) + "\n")
    (out / f"bench-{stamp}.md").write_text(text)
    return text


if __name__ == "__main__":
    sys.exit(main())
