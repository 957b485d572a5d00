"""Print where `make test`'s time went: the whole run against its target, each part (unit and
integration; lint, beside them at low priority; Molecule; the end-to-end suite, its CPU against
its budget) and the slowest end-to-end tests, their fleet set-up included. It only prints: a run
over its budget still passes or fails on its tests alone.

The parts overlap: the end-to-end lanes (tests/lanes.py) take their first file as soon as the
part before them on the same lane has ended, so the end-to-end time runs from the first file
taken to the last ended.

With the lanes' `cpu.json`, it also prints how busy the machine's CPUs were and what each part
and end-to-end file cost in CPU (its own processes: pytest, ansible-playbook and its workers,
the modules run on the controller; not the fleet's containers). The lanes share the CPUs: a
part's wall time depends on what ran beside it, its CPU much less; so the end-to-end budget is
the CPU of the end-to-end files, the sum of their own processes' (without `cpu.json` there is
nothing to hold it to, and it is not printed).

usage: tests/timings.py --dir .sandbox/test-timings --target-minutes 25 --e2e-cpu-budget-minutes 19
                        [--slowest 15]
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

NO_CPU: dict = {"machine": {}, "parts": []}  # what read_cpu gives without the lanes' cpu.json
PARTS = {
    "test-local": "unit, integration",
    "lint": "lint (nice 19, beside)",
    "molecule": "Molecule",
    "test-e2e": "end-to-end",
}


def minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}m{whole % 60:02d}s"


def read_parts(directory: Path) -> dict[str, float]:
    """{part: seconds} of the parts whose time was recorded (`<part>.seconds` files)."""
    found = {}
    for part in [*PARTS, "test"]:
        path = directory / f"{part}.seconds"
        if path.exists():
            found[part] = float(path.read_text().split()[0])
    return found


def slowest_tests(directory: Path, count: int) -> list[tuple[float, str]]:
    """The `count` longest test cases of the JUnit XML reports of the end-to-end files
    (`e2e-*.xml`, one per file): (seconds, file::name)."""
    cases = []
    for junit in sorted(directory.glob("e2e-*.xml")):
        for case in ET.parse(junit).getroot().iter("testcase"):
            module = case.get("classname", "").replace(".", "/")
            cases.append((float(case.get("time", 0)), f"{module}.py::{case.get('name')}"))
    return sorted(cases, reverse=True)[:count]


def read_cpu(directory: Path) -> dict:
    """The lanes' cpu.json ({"machine": {...}, "parts": [...]}), or an empty one."""
    path = directory / "cpu.json"
    return json.loads(path.read_text()) if path.exists() else NO_CPU


def summary(
    parts: dict[str, float],
    tests: list[tuple[float, str]],
    target: float,
    budget: float,
    cpu: dict | None = None,
) -> str:
    cpu = cpu or NO_CPU
    lines = []
    if "test" in parts:
        total = parts["test"]
        verdict = "within" if total <= target * 60 else "OVER"
        lines.append(f"make test: {minutes(total)} ({verdict} its {target:g}-minute target)")
    machine = cpu["machine"]
    if machine:
        lines.append(
            f"  the machine's {machine['cpus']} CPUs over {minutes(machine['seconds'])}: {machine['busy']:.0%} busy,"
            f" {machine['iowait']:.0%} waiting on I/O, {machine['steal']:.0%} taken by the hypervisor"
        )
    # The CPU of a part run first on a lane, by the make target that is its command's last word
    # (`make --no-print-directory molecule`).
    part_cpu = {p["what"].split()[-1]: p["cpu"] for p in cpu["parts"] if not p["file"]}
    for part, label in PARTS.items():
        if part in parts:
            note = ""
            if part in part_cpu:
                note = f"  CPU {minutes(part_cpu[part])}"
            if part == "test-e2e":
                e2e_cpu = sum(p["cpu"] for p in cpu["parts"] if p["file"])
                note = ""
                if e2e_cpu:
                    left = budget * 60 - e2e_cpu
                    verdict = "left" if left >= 0 else "OVER"
                    note = (
                        f"  CPU {minutes(e2e_cpu)}  (CPU budget {budget:g}m: {minutes(abs(left))} {verdict})"
                    )
            lines.append(f"  {label:<26}{minutes(parts[part]):>8}{note}")
    files = sorted((p for p in cpu["parts"] if p["file"]), key=lambda p: p["cpu"], reverse=True)
    if files:
        lines.append("end-to-end files by CPU (their own processes; the fleet's containers not counted):")
        lines.extend(
            f"  {minutes(p['cpu']):>8} CPU {minutes(p['seconds']):>8} wall  lane {p['lane']}  {p['what']}"
            for p in files
        )
    if tests:
        lines.append("slowest end-to-end tests (fleet set-up included):")
        lines.extend(f"  {minutes(seconds):>8}  {name}" for seconds, name in tests)
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--target-minutes", type=float, default=25)
    parser.add_argument("--e2e-cpu-budget-minutes", type=float, default=19)
    parser.add_argument("--slowest", type=int, default=15)
    args = parser.parse_args(argv)
    print(
        summary(
            read_parts(args.dir),
            slowest_tests(args.dir, args.slowest),
            args.target_minutes,
            args.e2e_cpu_budget_minutes,
            read_cpu(args.dir),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
