"""The test suite's own tooling: the key that the fleet images are saved under, the lanes
that run the end-to-end files, the timings `make test` prints at its end, the modules and the
templates' compiled code kept from one run for the next, and the fork server the unit tests run
Ansible from."""

from __future__ import annotations

import json
import marshal
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(TESTS / "e2e"))
sys.path.insert(0, str(TESTS))

import lanes  # noqa: E402
import timings  # noqa: E402
from callback_plugins import compile_cache  # noqa: E402
from process_tree import kill_tree  # noqa: E402

import sandbox  # noqa: E402
from sandbox import FLEET_INPUTS, ROOT, Fleet, inputs_key  # noqa: E402


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "roles/redis/tasks").mkdir(parents=True)
    (tmp_path / "roles/redis/tasks/main.yml").write_text("- name: one\n")
    (tmp_path / "roles/redis/__pycache__").mkdir()
    (tmp_path / "roles/redis/__pycache__/x.pyc").write_bytes(b"\0")
    (tmp_path / "site.yml").write_text("---\n")
    (tmp_path / "README.md").write_text("not an input\n")
    return tmp_path


def test_the_key_changes_with_an_input_and_the_images_name_only(tree: Path) -> None:
    inputs = ["roles", "site.yml"]
    key = inputs_key(tree, inputs, "intelgraph-sandbox-fleet")
    assert len(key) == 16 and key == inputs_key(tree, inputs, "intelgraph-sandbox-fleet")
    assert inputs_key(tree, inputs, "other-images") != key

    (tree / "README.md").write_text("changed, but builds nothing\n")
    (tree / "roles/redis/__pycache__/x.pyc").write_bytes(b"\1")
    assert inputs_key(tree, inputs, "intelgraph-sandbox-fleet") == key

    (tree / "roles/redis/tasks/main.yml").write_text("- name: two\n")
    changed = inputs_key(tree, inputs, "intelgraph-sandbox-fleet")
    assert changed != key

    (tree / "roles/redis/tasks/main.yml").rename(tree / "roles/redis/tasks/other.yml")
    assert inputs_key(tree, inputs, "intelgraph-sandbox-fleet") != changed  # a renamed file counts


def test_every_fleet_of_the_sandbox_starts_from_the_same_images(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = set()
    for n in (0, 1, 3):
        monkeypatch.setenv("INTELGRAPH_SANDBOX_ID", str(n))
        fleet = Fleet()
        keys.add(fleet.image_key())
        assert fleet.image("api1", "k") == "localhost/intelgraph-sandbox-fleet-api1:k"
    assert len(keys) == 1


def test_a_host_from_images_of_another_network_boots_with_its_own_addresses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The command a host of fleet 1 (10.89.41) boots with from images made on 10.89.43, run here
    # with the image's own command (/sbin/init) replaced by an echo.
    monkeypatch.setenv("INTELGRAPH_SANDBOX_ID", "1")
    listed = tmp_path / "addressed"
    monkeypatch.setattr(sandbox, "FLEET_READDRESS", str(listed))
    cfg, env, target = tmp_path / "haproxy.cfg", tmp_path / "secrets.env", tmp_path / "real.yml"
    cfg.write_text("server api1 10.89.43.21:8080 check\nserver x 110.89.43.21:80\n")
    env.write_text("DATABASE_URL=postgresql://u@10.89.43.41/db\n")
    env.chmod(0o640)
    target.write_text("targets: ['10.89.43.61:9090']\n")
    (tmp_path / "link.yml").symlink_to(target)
    listed.write_text(f"{cfg}\n{env}\n{tmp_path / 'link.yml'}\n")
    shell, flag, script = Fleet().readdress("10.89.43")
    assert (shell, flag) == ("/bin/sh", "-c") and script.endswith(" && exec /sbin/init")
    booted = subprocess.run(
        [shell, flag, script.replace("exec /sbin/init", "exec echo booted")], capture_output=True, text=True
    )
    assert booted.stdout == "booted\n", booted.stderr
    # Only that network's addresses (110.89.43.21 is another), the mode kept, the link a link.
    assert cfg.read_text() == "server api1 10.89.41.21:8080 check\nserver x 110.89.43.21:80\n"
    assert env.read_text() == "DATABASE_URL=postgresql://u@10.89.41.41/db\n"
    assert env.stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "link.yml").is_symlink() and target.read_text() == "targets: ['10.89.41.61:9090']\n"
    # A file it cannot rewrite: the host does not boot.
    listed.write_text(f"{tmp_path / 'missing.cfg'}\n")
    failed = subprocess.run(
        [shell, flag, script.replace("exec /sbin/init", "exec echo booted")], capture_output=True, text=True
    )
    assert failed.returncode != 0 and "booted" not in failed.stdout


def test_every_fleet_input_is_in_the_checkout() -> None:
    missing = [top for top in FLEET_INPUTS if not (ROOT / top).exists() and top != "sandbox/dist"]
    assert missing == []
    assert {"roles", "plugins", "playbooks/site.yml", "sandbox/playbooks/seed.yml"} <= set(FLEET_INPUTS)


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="{count}">
{cases}
</testsuite></testsuites>
"""
CASES = {
    "test_rollout": ['<testcase classname="tests.e2e.test_rollout" name="test_upgrade" time="250.4"/>'],
    "test_precheck": [
        '<testcase classname="tests.e2e.test_precheck" name="test_bad_input[burst]" time="31.0"/>'
    ],
    "test_faults": ['<testcase classname="tests.e2e.test_faults" name="test_faults" time="301.6"/>'],
}


def write_junit(directory: Path) -> None:
    """One JUnit report per end-to-end file, as tests/lanes.py leaves them."""
    for name, cases in CASES.items():
        (directory / f"e2e-{name}.xml").write_text(JUNIT.format(count=len(cases), cases="\n".join(cases)))


def test_timings_print_the_parts_and_the_slowest_tests(tmp_path: Path) -> None:
    (tmp_path / "test.seconds").write_text("1450 rc=0\n")
    (tmp_path / "test-e2e.seconds").write_text("1260 rc=0\n")
    (tmp_path / "molecule.seconds").write_text("430 rc=1\n")
    write_junit(tmp_path)

    # Without the lanes' cpu.json there is no CPU to hold to the end-to-end budget.
    text = timings.summary(timings.read_parts(tmp_path), timings.slowest_tests(tmp_path, 2), 25, 19)
    assert text.splitlines() == [
        "make test: 24m10s (within its 25-minute target)",
        "  Molecule                     7m10s",
        "  end-to-end                  21m00s",
        "slowest end-to-end tests (fleet set-up included):",
        "     5m02s  tests/e2e/test_faults.py::test_faults",
        "     4m10s  tests/e2e/test_rollout.py::test_upgrade",
    ]


def test_timings_print_the_machine_s_cpu_and_each_part_s(tmp_path: Path) -> None:
    (tmp_path / "test.seconds").write_text("1500 rc=0\n")
    (tmp_path / "test-local.seconds").write_text("330 rc=0\n")
    (tmp_path / "lint.seconds").write_text("600 rc=0\n")
    (tmp_path / "test-e2e.seconds").write_text("1000 rc=0\n")
    parts = [
        {"what": "make --no-print-directory test-local", "lane": 1, "file": False, "seconds": 330, "cpu": 300, "rc": 0},
        {"what": "make --no-print-directory lint", "lane": 0, "file": False, "seconds": 600, "cpu": 250, "rc": 0},
        {"what": "tests/e2e/test_rollout.py", "lane": 2, "file": True, "seconds": 250, "cpu": 130.4, "rc": 0},
        {"what": "tests/e2e/test_awx.py", "lane": 1, "file": True, "seconds": 300, "cpu": 190, "rc": 0},
    ]  # fmt: skip
    machine = {"cpus": 2, "seconds": 1490, "busy": 0.851, "iowait": 0.012, "steal": 0.04}
    (tmp_path / "cpu.json").write_text(json.dumps({"machine": machine, "parts": parts}))

    text = timings.summary(timings.read_parts(tmp_path), [], 25, 5, timings.read_cpu(tmp_path))
    assert text.splitlines() == [
        "make test: 25m00s (within its 25-minute target)",
        "  the machine's 2 CPUs over 24m50s: 85% busy, 1% waiting on I/O, 4% taken by the hypervisor",
        "  unit, integration            5m30s  CPU 5m00s",
        "  lint (nice 19, beside)      10m00s  CPU 4m10s",
        "  end-to-end                  16m40s  CPU 5m20s  (CPU budget 5m: 0m20s OVER)",
        "end-to-end files by CPU (their own processes; the fleet's containers not counted):",
        "     3m10s CPU    5m00s wall  lane 1  tests/e2e/test_awx.py",
        "     2m10s CPU    4m10s wall  lane 2  tests/e2e/test_rollout.py",
    ]


def test_timings_without_a_junit_report_print_the_parts_alone(tmp_path: Path) -> None:
    (tmp_path / "test.seconds").write_text("1600 rc=0\n")
    text = timings.summary(timings.read_parts(tmp_path), timings.slowest_tests(tmp_path, 5), 25, 19)
    assert text == "make test: 26m40s (OVER its 25-minute target)"


# --- tests/lanes.py ---------------------------------------------------------------------------


def test_files_come_in_file_order_and_those_not_listed_after_them(tmp_path: Path) -> None:
    for name in ("test_zeta.py", "test_migrate.py", "test_alpha.py", "test_operate.py", "helpers.py"):
        (tmp_path / name).write_text("")
    found = lanes.test_files([tmp_path, tmp_path / "test_operate.py"])
    assert [p.name for p in found] == ["test_operate.py", "test_migrate.py", "test_alpha.py", "test_zeta.py"]
    assert set(lanes.FILE_ORDER) == {p.name for p in (TESTS / "e2e").glob("test_*.py")}


def run_lanes(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """tests/lanes.py on the test files in tmp_path/files, as make runs it."""
    env = {"PATH": "/usr/bin:/bin", "KEEP_FLEETS": "1", "INTELGRAPH_SANDBOX_ID": "4"}
    return subprocess.run(
        [sys.executable, str(TESTS / "lanes.py"), "--timings", str(tmp_path / "timings"), *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def write_tests(directory: Path, **bodies: str) -> Path:
    directory.mkdir(exist_ok=True)
    for name, body in bodies.items():
        (directory / f"{name}.py").write_text(textwrap.dedent(body))
    return directory


LANE_FILE = """
import os, time
def test_{name}():
    with open(os.environ["LOG"], "a") as log:
        log.write(f"{name} {{os.environ['INTELGRAPH_SANDBOX_ID']}} {{time.time()}}\\n")
    time.sleep(0.5)
    assert {ok}
"""


def test_each_lane_runs_its_first_command_then_takes_files_on_a_fleet_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "log"
    monkeypatch.setenv("LOG", str(log))
    files = write_tests(
        tmp_path / "files",
        **{f"test_{n}": LANE_FILE.format(name=n, ok=True) for n in ("one", "two", "three")},
    )
    # Lane 2's first command lasts until a file has logged its start (60 s at most): lane 1 must
    # take that file while it runs, however slow the machine.
    until_a_file_ran = "for i in $(seq 600); do grep -qv ^first $LOG 2>/dev/null && break; sleep 0.1; done"
    run = subprocess.run(
        [
            sys.executable, str(TESTS / "lanes.py"), "--timings", str(tmp_path / "timings"),
            "--first", "sh -c 'echo first $INTELGRAPH_SANDBOX_ID 0 >> $LOG'",
            "--first", f"sh -c '{until_a_file_ran}; echo first $INTELGRAPH_SANDBOX_ID $(date +%s.%N) >> $LOG'",
            str(files),
        ],
        env={"PATH": "/usr/bin:/bin", "KEEP_FLEETS": "1", "INTELGRAPH_SANDBOX_ID": "4", "LOG": str(log)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    logged = [line.split() for line in log.read_text().splitlines()]
    # Each lane's first command ran on the lane's fleet, as its files do.
    assert sorted(fleet for name, fleet, _ in logged if name == "first") == ["5", "6"]
    ran = [entry for entry in logged if entry[0] != "first"]
    assert sorted(name for name, _, _ in ran) == ["one", "three", "two"]
    # Lane 1 (fleet 5) began before lane 2's first command ended; lane 2 drove fleet 6.
    lane_of = {name: fleet for name, fleet, _ in ran}
    assert set(lane_of.values()) <= {"5", "6"} and lane_of[ran[0][0]] == "5"
    ended = {fleet: float(at) for name, fleet, at in logged if name == "first"}
    assert float(ran[0][2]) < ended["6"]
    assert f"=== lane 2: sh -c '{until_a_file_ran}; echo first" in run.stdout and "passed in" in run.stdout
    assert sorted(p.name for p in (tmp_path / "timings").glob("e2e-*.xml")) == [
        "e2e-test_one.xml",
        "e2e-test_three.xml",
        "e2e-test_two.xml",
    ]
    assert (tmp_path / "timings/test-e2e.seconds").read_text().endswith(" rc=0\n")


def test_a_failed_file_fails_the_run_and_a_failed_first_command_stops_the_queue(tmp_path: Path) -> None:
    files = write_tests(
        tmp_path / "files",
        test_good="def test_good():\n    assert True\n",
        test_bad="def test_bad():\n    assert 1 == 2\n",
    )
    failed = run_lanes(tmp_path, "--lanes", "1", str(files))
    assert failed.returncode == 1
    assert "=== lane 1: " in failed.stdout and "FAILED (exit code 1)" in failed.stdout
    assert "failed: " + str(files / "test_bad.py") in failed.stdout
    # The failure is repeated after the output of the file that ran after it, so that the
    # log's tail says what failed.
    repeated = failed.stdout.index(
        "--- the last lines of " + str(files / "test_bad.py") + " (lane 1, exit code 1):"
    )
    assert repeated > failed.stdout.index("test_good.py: passed")
    assert "FAILED " in failed.stdout[repeated:] and "1 failed" in failed.stdout[repeated:]

    stopped = run_lanes(tmp_path, "--first", "false", "--first", "sh -c 'sleep 2'", str(files))
    assert stopped.returncode == 1
    assert "=== lane 1: false: FAILED (exit code 1)" in stopped.stdout
    assert "not run, after a failure: " in stopped.stdout
    assert "test_good.py: passed" not in stopped.stdout and "test_bad.py: " not in stopped.stdout


def test_each_part_s_cpu_counts_its_descendants_and_the_machine_s_is_written(tmp_path: Path) -> None:
    files = write_tests(tmp_path / "files", test_good="def test_good():\n    assert True\n")
    # A grandchild of the lane (sh, then python) that spins on the CPU for half a second.
    spin = f"{sys.executable} -c 'import time; end = time.process_time() + 0.5\nwhile time.process_time() < end: pass'"
    run = run_lanes(tmp_path, "--lanes", "1", "--first", f'sh -c "{spin}"', str(files))
    assert run.returncode == 0, run.stdout + run.stderr
    written = json.loads((tmp_path / "timings/cpu.json").read_text())
    first, good = written["parts"]
    assert (first["file"], first["rc"], good["what"], good["file"]) == (
        False,
        0,
        str(files / "test_good.py"),
        True,
    )
    assert 0.5 <= first["cpu"] <= first["seconds"] + 0.5
    assert 0 < good["cpu"] <= good["seconds"] + 0.5  # pytest's own start
    assert re.search(r"=== lane 1: sh -c .*: passed in \dm\d\ds, CPU 0m0[1-9]s", run.stdout, re.S), run.stdout
    machine = written["machine"]
    assert machine["cpus"] == os.cpu_count() and machine["seconds"] >= first["seconds"] + good["seconds"] - 1
    assert 0 < machine["busy"] <= 1 and 0 <= machine["steal"] <= 1 and 0 <= machine["iowait"] <= 1


def test_the_background_command_runs_at_nice_19_beside_the_lanes_and_its_failure_stops_the_queue(
    tmp_path: Path,
) -> None:
    files = write_tests(tmp_path / "files", test_good="def test_good():\n    assert True\n")
    # The background command says its niceness, and passes only once the lane's file has run (it
    # waits 60 s at most for it): it runs beside the lanes, not before them.
    marker = tmp_path / "file-ran"
    (files / "conftest.py").write_text(
        f"def pytest_sessionfinish():\n    open({str(marker)!r}, 'w').close()\n"
    )
    # Its session is not the lanes' (sid), and that session's autogroup has niceness 19 too.
    waits = (
        f"for i in $(seq 600); do test -e {marker} && break; sleep 0.1; done; test -e {marker};"
        " echo nice=$(nice) sid=$(ps -o sid= -p $$) autogroup=$(cat /proc/self/autogroup)"
    )
    run = run_lanes(tmp_path, "--lanes", "1", "--background", f"sh -ec '{waits}'", str(files))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "=== background (nice 19): sh -ec " in run.stdout and "nice=19" in run.stdout
    said = re.search(r"nice=19 sid=\s*([0-9]+) autogroup=(\S+ nice \S+)", run.stdout)
    assert said, run.stdout
    assert int(said[1]) != os.getsid(0) and re.fullmatch(r"/autogroup-[0-9]+ nice 19", said[2]), said.groups()
    written = json.loads((tmp_path / "timings/cpu.json").read_text())
    assert sorted((p["lane"], p["file"], p["rc"]) for p in written["parts"]) == [(0, False, 0), (1, True, 0)]

    stopped = run_lanes(tmp_path, "--lanes", "1", "--background", "false", "--first", "sleep 2", str(files))
    assert stopped.returncode == 1
    assert "=== background (nice 19): false: FAILED (exit code 1)" in stopped.stdout
    assert "not run, after a failure: " in stopped.stdout and "test_good.py: " not in stopped.stdout


def test_a_selection_that_matches_no_test_anywhere_fails(tmp_path: Path) -> None:
    files = write_tests(tmp_path / "files", test_good="def test_good():\n    assert True\n")
    assert run_lanes(tmp_path, str(files), "--", "-k", "good").returncode == 0
    none = run_lanes(tmp_path, str(files), "--", "-k", "nothing_by_this_name")
    assert none.returncode == 1
    assert "no test was run (-k nothing_by_this_name)" in none.stdout


def test_an_interrupt_stops_every_lane_and_no_file_is_taken_after_it(tmp_path: Path) -> None:
    log = tmp_path / "log"
    files = write_tests(
        tmp_path / "files",
        **{
            f"test_{n}": LANE_FILE.format(name=n, ok=True).replace("sleep(0.5)", "sleep(3)") for n in "abcdef"
        },
    )
    env = {"PATH": "/usr/bin:/bin", "KEEP_FLEETS": "1", "LOG": str(log)}
    # A background command that would outlast the test: lanes.py passes the interrupt on to it.
    cmd = [
        sys.executable, str(TESTS / "lanes.py"), "--timings", str(tmp_path / "timings"),
        "--background", "sleep 300", str(files),
    ]  # fmt: skip
    # As a terminal's Ctrl-C does: SIGINT to the whole process group, lanes and running files.
    # SIGINT as a terminal leaves it, even when this test runs in a background job, which starts
    # with SIGINT ignored (and would pass that on to lanes.py and its files).
    lanes_run = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while not (log.exists() and len(log.read_text().splitlines()) >= 2) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(lanes_run.pid, signal.SIGINT)
    out, _ = lanes_run.communicate(timeout=60)
    assert lanes_run.returncode == 130, out
    assert "interrupted; not run: " in out
    assert "=== background (nice 19): sleep 300: FAILED" in out
    time.sleep(4)  # a file taken after the interrupt would have written its line by now
    assert len(log.read_text().splitlines()) == 2


MODULE_PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.ping:
    - ansible.builtin.stat:
        path: /
"""


def run_with_caches(tmp_path: Path, playbook: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A real ansible-playbook run of playbook (in tmp_path, on localhost) with the callbacks loaded
    as the tests load them, env added to its environment."""
    (tmp_path / "playbook.yml").write_text(playbook)
    interpreter = f"ansible_python_interpreter={sys.executable}"
    run = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e", interpreter, "playbook.yml"],
        cwd=tmp_path,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")},
            "ANSIBLE_CALLBACK_PLUGINS": str(TESTS / "e2e" / "callback_plugins"),
            "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return run


def run_with_module_cache(tmp_path: Path, kept: Path) -> str:
    """run_with_caches keeping the modules in kept; its debug output."""
    run = run_with_caches(
        tmp_path,
        MODULE_PLAYBOOK,
        INTELGRAPH_MODULE_CACHE=str(kept),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "local"),
        ANSIBLE_DEBUG="1",
    )
    return run.stdout + run.stderr


def test_the_modules_one_run_built_are_not_built_again_by_the_next(tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    (kept / "0123456789abcdef").mkdir(parents=True)  # another key's: removed at the end of a run
    first = run_with_module_cache(tmp_path, kept)
    keys = [p.name for p in kept.iterdir()]
    second = run_with_module_cache(tmp_path, kept)

    assert first.count("ANSIBALLZ: Creating module") == 2
    assert len(keys) == 1 and keys[0] != "0123456789abcdef"
    names = sorted(p.name for p in (kept / keys[0]).iterdir())
    assert names == ["ansible.modules.ping-ZIP_DEFLATED-none", "ansible.modules.stat-ZIP_DEFLATED-none"]
    assert "ANSIBALLZ: Creating module" not in second
    assert second.count("ANSIBALLZ: using cached module") == 2


def test_the_modules_a_run_built_are_kept_whole_and_copied_into_the_next(tmp_path: Path) -> None:
    live, kept = tmp_path / "live", tmp_path / "kept" / "0123456789abcdef"
    live.mkdir()
    (live / "a.thing-ZIP_DEFLATED-none").write_bytes(b"zip a")
    (live / "a.thing-ZIP_DEFLATED-none.lock").write_bytes(b"")
    (live / "b.thing-ZIP_DEFLATED-none-part").write_bytes(b"half")
    assert compile_cache.keep(live, kept) == 1
    assert compile_cache.keep(live, kept) == 0
    assert [p.name for p in kept.iterdir()] == ["a.thing-ZIP_DEFLATED-none"]
    fresh = tmp_path / "fresh"
    assert compile_cache.restore(kept, fresh) == 1
    assert (fresh / "a.thing-ZIP_DEFLATED-none").read_bytes() == b"zip a"
    assert compile_cache.restore(tmp_path / "kept" / "none", fresh) == 0


TEMPLATE_PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    x: 7
    words: [b, a]
  tasks:
    - name: a template
      ansible.builtin.debug:
        msg: "x is {{ x * 6 }}, {{ words | sort | join(',') }}"
    - name: an expression
      ansible.builtin.set_fact:
        answer: "{{ x > 3 }}"
      when: x > 3
    - name: the default delimiters
      ansible.builtin.debug:
        msg: "{{ lookup('ansible.builtin.template', 'plain.j2') }}"
    - name: the same source with delimiters of its own
      ansible.builtin.debug:
        msg: "{{ lookup('ansible.builtin.template', 'other.j2') }}"
    - name: a template that does not compile
      ansible.builtin.debug:
        msg: "{{ x + }}"
      ignore_errors: true
"""


def run_with_template_cache(tmp_path: Path, kept: Path) -> dict[str, dict]:
    """run_with_caches keeping the templates' code in kept; each task's result by its name."""
    (tmp_path / "plain.j2").write_text("[% x %] {{ x }}")
    (tmp_path / "other.j2").write_text(
        "#jinja2:variable_start_string:'[%', variable_end_string:'%]'\n[% x %] {{ x }}"
    )
    run = run_with_caches(
        tmp_path,
        TEMPLATE_PLAYBOOK,
        INTELGRAPH_TEMPLATE_CACHE=str(kept),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
    )
    tasks = json.loads(run.stdout)["plays"][0]["tasks"]
    return {task["task"]["name"]: task["hosts"]["localhost"] for task in tasks}


def test_the_code_of_the_templates_one_run_compiled_is_what_the_next_renders_with(tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    (kept / "0123456789abcdef").mkdir(parents=True)  # another key's: removed when a run starts
    first = run_with_template_cache(tmp_path, kept)
    [key] = [p.name for p in kept.iterdir()]
    code = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (kept / key).iterdir()}
    second = run_with_template_cache(tmp_path, kept)

    assert key != "0123456789abcdef" and len(code) >= 5
    for results in (first, second):
        assert results["a template"]["msg"] == "x is 42, a,b"
        assert results["an expression"]["ansible_facts"] == {"answer": True}
        assert results["the default delimiters"]["msg"] == "[% x %] 7"
        assert results["the same source with delimiters of its own"]["msg"] == "7 {{ x }}"
        assert results["a template that does not compile"]["failed"] is True
        assert "Syntax error in template" in results["a template that does not compile"]["msg"]
    # The second run compiled nothing that compiles: it wrote no code, new or again.
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (kept / key).iterdir()} == code


def test_a_kept_file_that_holds_no_code_is_compiled_over_and_any_source_has_a_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jinja2

    monkeypatch.setattr(compile_cache, "_templates", tmp_path)
    env = jinja2.Environment()
    render = lambda source: env.template_class.from_code(  # noqa: E731
        env, compile_cache.compile_kept(env, source), env.make_globals(None), None
    ).render()
    assert render("{{ 1 + 1 }}") == "2"
    [kept] = list(tmp_path.iterdir())
    kept.write_bytes(marshal.dumps({"not": "code"}))
    assert render("{{ 1 + 1 }}") == "2"
    assert isinstance(marshal.loads(kept.read_bytes()), types.CodeType)
    # Text decoded from bytes that were not UTF-8 (surrogates) is a source like any other.
    assert render("\udcff{{ 3 }}") == "\udcff3"
    assert len(list(tmp_path.iterdir())) == 2


@pytest.mark.parametrize(
    "plugins, ignored",
    [(compile_cache.MODULE_PLUGINS, "filter"), (compile_cache.TEMPLATE_PLUGINS, "modules")],
    ids=["modules", "templates"],
)
def test_what_is_kept_is_keyed_by_the_collections_plugins_it_is_built_from(
    tmp_path: Path, plugins: tuple[str, str], ignored: str
) -> None:
    collection = tmp_path / "ansible_collections/acme/tools/plugins"
    for kind in (*plugins, ignored):
        (collection / kind).mkdir(parents=True)
    (collection / plugins[0] / "one.py").write_text("X = 1\n")
    key = compile_cache.cache_key([str(tmp_path)], plugins)
    (collection / ignored / "other.py").write_text("print(1)\n")
    (tmp_path / "ansible_collections/acme/tools/README.md").write_text("not a source\n")
    assert compile_cache.cache_key([str(tmp_path)], plugins) == key
    (collection / plugins[0] / "one.py").write_text("X = 2\n")
    changed = compile_cache.cache_key([str(tmp_path)], plugins)
    (collection / plugins[1] / "two.py").write_text("Y = 1\n")
    added = compile_cache.cache_key([str(tmp_path)], plugins)
    assert len({key, changed, added}) == 3
    assert compile_cache.cache_key([str(tmp_path)], plugins, "jinja2 9.9") != added

    (tmp_path / "kept" / key).mkdir(parents=True)
    (tmp_path / "kept" / "old").mkdir()
    assert compile_cache.prune(tmp_path / "kept", key) == ["old"]
    assert [p.name for p in (tmp_path / "kept").iterdir()] == [key]


def _ends(pattern: str) -> bool:
    """Whether no process's command line matches `pattern` within 10 seconds (a process sent
    SIGKILL ends when it next runs, which a busy machine may delay)."""
    deadline = time.monotonic() + 10
    while subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode != 1:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_killed_run_ends_on_sigkill_with_every_process_it_started() -> None:
    """tests/support/process_tree.py: a parent that exits with 1 as soon as its child ends (as
    ansible-playbook does when a worker dies) still ends on SIGKILL, and its child (in a session
    of its own, as Ansible's workers are) and grandchild end with it."""
    hang = f"60.{random.randrange(10**8):08d}"
    child = f"import subprocess; subprocess.run(['sleep', '{hang}'])"
    parent = (
        "import subprocess, sys; "
        f"subprocess.run([sys.executable, '-c', {child!r}], start_new_session=True); sys.exit(1)"
    )
    for _ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", parent])
        deadline = time.monotonic() + 30
        while subprocess.run(["pgrep", "-f", f"^sleep {hang}"], capture_output=True).returncode:
            assert time.monotonic() < deadline, "the grandchild never started"
            time.sleep(0.05)
        kill_tree(proc.pid)
        assert proc.wait(timeout=30) == -signal.SIGKILL
        assert _ends(hang)


def test_the_fork_server_runs_the_command_line_with_the_run_s_environment_and_code(tmp_path: Path) -> None:
    """tests/unit/ansible_forkserver.py: a run gets its own environment and the program's exit
    code and output; a run past its time is killed with every process it started, and the server goes on."""
    from unit import conftest

    env = dict(os.environ, ANSIBLE_CONFIG=str(conftest.MODULE_TEST_CFG), FORKSERVER_PROBE="seen")
    server = conftest._ForkServer(env)
    # A sleep no other process on the machine runs (the fleets' hosts' processes are visible here too).
    hang = f"60.{random.randrange(10**8):08d}"
    playbook = tmp_path / "probe.yml"
    playbook.write_text(
        json.dumps(
            [
                {
                    "hosts": "localhost",
                    "gather_facts": False,
                    "tasks": [
                        {"ansible.builtin.debug": {"msg": "probe={{ lookup('env', 'FORKSERVER_PROBE') }}"}},
                        {
                            "ansible.builtin.fail": {"msg": "failed on purpose"},
                            "when": "fail | default(false)",
                        },
                        {"ansible.builtin.command": f"sleep {hang}", "when": "hang | default(false)"},
                    ],
                }
            ]
        )
    )
    run = [
        "-i",
        "localhost,",
        "-c",
        "local",
        str(playbook),
        "-e",
        f"ansible_python_interpreter={sys.executable}",
    ]
    try:
        rc, out, _ = server.run("ansible-playbook", run, env, timeout=120)
        assert rc == 0 and "probe=seen" in out
        rc, out, _ = server.run("ansible-playbook", [*run, "-e", '{"fail": true}'], env, timeout=120)
        assert rc == 2 and "failed on purpose" in out
        started = time.monotonic()
        rc, _, _ = server.run("ansible-playbook", [*run, "-e", '{"hang": true}'], env, timeout=5)
        assert rc == -signal.SIGKILL and time.monotonic() - started < 30
        assert _ends(f"sleep {hang}")
        rc, out, _ = server.run("ansible-playbook", run, env, timeout=120)
        assert rc == 0 and "probe=seen" in out
    finally:
        server.close()
