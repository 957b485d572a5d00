"""Run the end-to-end test files in lanes, each lane on a sandbox fleet of its own.

Lane K drives sandbox N+K (N: INTELGRAPH_SANDBOX_ID, 0 by default). A lane may first run a
command of its own (`--first`, once per lane, in order, on the lane's fleet): `make test` gives
the first lane the checks that need no fleet and the second Molecule, so that each lane takes
its first test file as soon as its own command has ended rather than when both have; a lane
without one takes its first file at once. Every lane's fleet starts from the same fleet images,
made by whichever fleet needs them first (Molecule's or a lane's first file). The test files
wait in one queue, in FILE_ORDER; a free lane takes the next, runs it whole (`pytest FILE`) and
prints its output whole when it ends. When a `--first` command fails, no lane takes another
file.
At the end, the last lines of each failed part are printed again, after the other parts'
output, so that a log shown by its tail (CI's) still says what failed.

A `--background` command starts at once beside the lanes at the lowest priority (nice 19): it
takes the processor time the lanes leave while they wait (for a drain, a restart, a time limit,
the network), and as little as the scheduler allows of what they use. Linux shares the
processors between sessions (autogroups) and the fleet's containers (cgroups) before it looks
at a process's niceness within them, so the command runs in a session of its own whose
autogroup has the same niceness: within the lanes' session, nice 19 alone still took a full
share from the containers' module runs whenever the lanes' own processes waited on them.
`make test` gives it lint, which needs no fleet and has no time limit to miss when it gets
little processor time. It is a part as the others: printed when it ends and waited for; when it
fails, no lane takes another file.

Each file's JUnit report goes to `--timings` as `e2e-<file>.xml`, and the end-to-end part's
time (from the first file taken to the last ended) to `test-e2e.seconds`, for tests/timings.py.
So does, in `cpu.json`, what each part and file cost in CPU (its own processes, the controller
side: the fleet's containers are not among them), and how busy the machine's CPUs were from
the first part started to the last ended (/proc/stat): CPU, not wall time, is what the lanes
share on a 2-core machine.
The lanes' fleets are removed at the end unless KEEP_FLEETS=1.

usage: tests/lanes.py [--lanes 2] [--first CMD]... [--background CMD] [--timings DIR] PATH...
                      [-- PYTEST_ARG...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The order the lanes take the files in: the one that, with each file's time in two fresh clones'
# `make test` of three lanes (2026-12-06) and when each lane takes its first (lane 3 once the host
# image is made, lane 1 after test-local, lane 2 after Molecule), ends the lanes soonest on
# average, each time varied by 15%: the longest files first, the shortest last. A file not listed
# comes after these, in name order.
FILE_ORDER = [
    "test_awx.py",
    "test_security.py",
    "test_rollback.py",
    "test_docker_runtime.py",
    "test_rollout.py",
    "test_awx_lost.py",
    "test_operate.py",
    "test_faults.py",
    "test_precheck.py",
    "test_migrate.py",
]


def set_autogroup_nice(pid: int, nice: int) -> None:
    """Give the autogroup of `pid`'s session the niceness `nice` (/proc/PID/autogroup): every
    process of the session shares that autogroup's lower weight. Nothing to do on a kernel without
    autogrouping, or for processes in a CPU cgroup of their own, where it does not apply."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/autogroup").write_text(f"{nice}\n")


def cpu_times() -> tuple[float, list[int]]:
    """(now, the machine's CPU time counters in clock ticks): the first line of /proc/stat, every
    CPU summed: user, nice, system, idle, iowait, irq, softirq, steal, ..."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    return time.monotonic(), [int(n) for n in fields[1:9]]


def machine_busy(before: tuple[float, list[int]], after: tuple[float, list[int]]) -> dict[str, float]:
    """How the machine's CPUs spent the time between two cpu_times(): its CPUs, the seconds, and
    the share of the CPUs' time that was busy (user, nice, system, irq, softirq), waiting on I/O
    and taken by the hypervisor (steal)."""
    (t0, c0), (t1, c1) = before, after
    user, nice, system, idle, iowait, irq, softirq, steal = (b - a for a, b in zip(c0, c1, strict=True))
    total = max(user + nice + system + idle + iowait + irq + softirq + steal, 1)
    return {
        "cpus": os.cpu_count() or 1,
        "seconds": round(t1 - t0, 1),
        "busy": round((user + nice + system + irq + softirq) / total, 3),
        "iowait": round(iowait / total, 3),
        "steal": round(steal / total, 3),
    }


def test_files(paths: list[Path]) -> list[Path]:
    """The test files of `paths` (files, or directories holding test_*.py), in FILE_ORDER."""
    found: list[Path] = []
    for path in paths:
        found.extend(sorted(path.glob("test_*.py")) if path.is_dir() else [path])
    rank = {name: n for n, name in enumerate(FILE_ORDER)}
    return sorted(dict.fromkeys(found), key=lambda p: (rank.get(p.name, len(rank)), p.name))


def minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}m{whole % 60:02d}s"


@dataclass
class Queue:
    """The files still to run; closed when a lane's first command has failed."""

    files: list[Path]
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> Path | None:
        with self.lock:
            return None if self.closed or not self.files else self.files.pop(0)

    def close(self) -> None:
        with self.lock:
            self.closed = True


@dataclass
class Outcome:
    what: str
    lane: int
    rc: int
    started: float
    ended: float
    is_file: bool
    cpu: float = 0.0  # seconds of CPU of its process and every descendant it waited for
    tail: list[str] = field(default_factory=list)


# The --background command's niceness: the lowest priority, so that it takes what the lanes leave.
BACKGROUND_NICE = 19

# How many of a failed part's last lines the verdict repeats: pytest's short summary and its
# last failure, or the last step of a make target.
TAIL_LINES = 30


class Lanes:
    def __init__(self, args: argparse.Namespace, pytest_args: list[str]) -> None:
        self.args = args
        self.pytest_args = pytest_args
        self.base = int(os.environ.get("INTELGRAPH_SANDBOX_ID") or 0)
        self.queue = Queue(test_files(args.paths))
        self.outcomes: list[Outcome] = []
        self.print_lock = threading.Lock()
        self.background_pid = 0  # the --background command's, in a session of its own

    def run(
        self, lane: int, what: str, cmd: list[str], env: dict[str, str], is_file: bool, nice: int = 0
    ) -> int:
        started = time.time()
        if nice:
            cmd = ["nice", "-n", str(nice), *cmd]
        with subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=bool(nice),
        ) as proc:
            if nice:
                self.background_pid = proc.pid
                set_autogroup_nice(proc.pid, nice)
            assert proc.stdout is not None
            output = proc.stdout.read()
            # wait4, not wait: the process's resource usage comes with its exit status.
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = rc = os.waitstatus_to_exitcode(status)
        ended = time.time()
        cpu = usage.ru_utime + usage.ru_stime
        verdict = "passed" if rc == 0 else f"FAILED (exit code {rc})"
        with self.print_lock:
            tail = output.rstrip().splitlines()[-TAIL_LINES:] if rc else []
            self.outcomes.append(Outcome(what, lane, rc, started, ended, is_file, cpu, tail))
            where = f"lane {lane}" if lane else f"background (nice {BACKGROUND_NICE})"
            print(
                f"=== {where}: {what}: {verdict} in {minutes(ended - started)}, CPU {minutes(cpu)}",
                flush=True,
            )
            print(output.rstrip(), flush=True)
        return rc

    def lane(self, lane: int, first: str | None) -> None:
        fleet = {"INTELGRAPH_SANDBOX_ID": str(self.base + lane)}
        if first and self.run(lane, first, shlex.split(first), {**os.environ, **fleet}, is_file=False) != 0:
            self.queue.close()
            return
        env = {**os.environ, **fleet, "KEEP_FLEETS": "1"}
        while (path := self.queue.take()) is not None:
            junit = self.args.timings / f"e2e-{path.stem}.xml"
            cmd = [
                sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=10",
                f"--junitxml={junit}", str(path), *self.pytest_args,
            ]  # fmt: skip
            self.run(lane, str(path), cmd, env, is_file=True)

    def background(self, command: str) -> None:
        """The --background command, at nice BACKGROUND_NICE, as lane 0 (it has no fleet)."""
        if self.run(0, command, shlex.split(command), dict(os.environ), is_file=False, nice=BACKGROUND_NICE):
            self.queue.close()

    def remove_fleets(self) -> None:
        """Remove the fleet of every lane that ran a file (fleet_down.yml)."""
        playbook = Path(sys.executable).parent / "ansible-playbook"
        for lane in sorted({o.lane for o in self.outcomes if o.is_file}):
            env = {**os.environ, "INTELGRAPH_SANDBOX_ID": str(self.base + lane)}
            down = [str(playbook), "sandbox/playbooks/fleet_down.yml"]
            subprocess.run(down, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=False)

    def write_cpu(self, machine: dict[str, float]) -> None:
        """cpu.json in --timings: each part's wall time and CPU, and the machine's."""
        parts = [
            {"what": o.what, "lane": o.lane, "file": o.is_file, "seconds": round(o.ended - o.started, 1),
             "cpu": round(o.cpu, 1), "rc": o.rc}
            for o in sorted(self.outcomes, key=lambda o: o.started)
        ]  # fmt: skip
        (self.args.timings / "cpu.json").write_text(
            json.dumps({"machine": machine, "parts": parts}, indent=1) + "\n"
        )

    def main(self) -> int:
        firsts = self.args.first or []
        before = cpu_times()
        lanes = max(self.args.lanes, len(firsts))
        self.args.timings.mkdir(parents=True, exist_ok=True)
        threads = [
            threading.Thread(target=self.lane, args=(k, firsts[k - 1] if k <= len(firsts) else None))
            for k in range(1, lanes + 1)
        ]
        if self.args.background:
            threads.append(threading.Thread(target=self.background, args=(self.args.background,)))
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        except KeyboardInterrupt:
            # Ctrl-C reached the whole process group: the running files stop on their own; no
            # lane takes another. The background command, in a session of its own, is passed it.
            self.queue.close()
            if self.background_pid:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.background_pid, signal.SIGINT)
            for thread in threads:
                thread.join()
            print(f"interrupted; not run: {', '.join(str(p) for p in self.queue.files) or 'none'}")
            if os.environ.get("KEEP_FLEETS") != "1":
                self.remove_fleets()
            return 130
        files = [o for o in self.outcomes if o.is_file]
        if files:
            seconds = max(o.ended for o in files) - min(o.started for o in files)
            rc = max(o.rc for o in files)
            (self.args.timings / "test-e2e.seconds").write_text(f"{round(seconds)} rc={rc}\n")
        self.write_cpu(machine_busy(before, cpu_times()))
        if os.environ.get("KEEP_FLEETS") != "1":
            self.remove_fleets()
        return self.verdict(files)

    def verdict(self, files: list[Outcome]) -> int:
        """0 when every command and file passed and at least one test ran. With pytest
        arguments (a selection such as -k), a file none of whose tests is selected (pytest's
        exit code 5) is not a failure."""
        selecting = bool(self.pytest_args)
        failed = [o for o in self.outcomes if o.rc != 0 and not (selecting and o.is_file and o.rc == 5)]
        for outcome in failed:
            print(f"--- the last lines of {outcome.what} (lane {outcome.lane}, exit code {outcome.rc}):")
            print("\n".join(outcome.tail), flush=True)
        if self.queue.files:
            print(f"not run, after a failure: {', '.join(str(p) for p in self.queue.files)}")
        if failed:
            print(f"failed: {', '.join(o.what for o in failed)}")
            return 1
        if not [o for o in files if o.rc == 0]:
            print(f"no test was run ({' '.join(self.pytest_args) or 'no test file found'})")
            return 1
        return 0


def main(argv: list[str]) -> int:
    pytest_args: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, pytest_args = argv[:at], argv[at + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lanes", type=int, default=2, help="lanes, each on a fleet of its own (default 2)")
    parser.add_argument("--first", action="append", help="a command lane K runs before its first file")
    parser.add_argument("--background", help=f"a command run beside the lanes at nice {BACKGROUND_NICE}")
    parser.add_argument("--timings", type=Path, default=ROOT / ".sandbox/test-timings")
    parser.add_argument("paths", type=Path, nargs="+")
    args = parser.parse_args(argv)
    if args.lanes < 1:
        parser.error("--lanes must be at least 1")
    return Lanes(args, pytest_args).main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
