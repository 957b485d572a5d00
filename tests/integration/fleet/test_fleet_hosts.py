"""How the end-to-end tests see a host of the fleet (tests/e2e/sandbox.py, Fleet.host): through
testinfra, by `podman exec` into the host's container, each command bounded in time. Seen here on
one container of the fleet's host image (conftest.py, probe)."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
from testinfra.backend.podman import PodmanBackend
from testinfra.host import Host

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "e2e"))

from sandbox import Fleet


def test_a_fleet_host_is_a_testinfra_host_on_its_container_one_per_host(probe: tuple[Fleet, str]) -> None:
    fleet, name = probe
    host = fleet.host(name)
    assert isinstance(host, Host) and isinstance(host.backend, PodmanBackend)
    assert host.backend.name == fleet.container(name)
    assert fleet.host(name) is host
    inspected = subprocess.run(
        ["podman", "inspect", "--format", "{{.Config.Hostname}}", fleet.container(name)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert host.check_output("cat /etc/hostname") == inspected.stdout.strip() != ""
    assert host.run("exit 3").rc == 3


def test_files_are_written_and_read_back_byte_for_byte_with_mode_owner_and_group(
    probe: tuple[Fleet, str], caplog: pytest.LogCaptureFixture
) -> None:
    fleet, name = probe
    host = fleet.host(name)
    fleet.write(name, "/etc/probe/app.env", "A=1\nB=é\n", "0640")  # its directory is made
    data = bytes(range(256)) * 8
    fleet.write(name, "/etc/probe/data.bin", data)

    env = host.file("/etc/probe/app.env")
    assert env.content == "A=1\nB=é\n".encode() and env.content_string == "A=1\nB=é\n"
    assert (env.mode, env.user, env.group) == (0o640, "root", "root")
    host.check_output("chown daemon:nogroup /etc/probe/app.env && chmod 0604 /etc/probe/app.env")
    assert (env.mode, env.user, env.group) == (0o604, "daemon", "nogroup")  # each read anew
    assert host.file("/etc/probe/data.bin").mode == 0o644

    # Fleet.files reads every listed file of a group's host in one command on it (Fleet.inspect,
    # through testinfra's host): None when absent.
    caplog.set_level(logging.DEBUG, logger="testinfra")
    found = fleet.files({"probe": ["/etc/probe/app.env", "/etc/probe/data.bin", "/etc/probe/absent"]})
    assert found == {
        (name, "/etc/probe/app.env"): "A=1\nB=é\n".encode(),
        (name, "/etc/probe/data.bin"): data,
        (name, "/etc/probe/absent"): None,
    }
    ran = [
        r.getMessage() for r in caplog.records if r.name == "testinfra" and r.getMessage().startswith("RUN")
    ]
    assert len(ran) == 1 and "/etc/probe/app.env" in ran[0] and "/etc/probe/absent" in ran[0], ran

    host.check_output("ln -sfn /etc/probe /etc/probe-current")
    assert host.file("/etc/probe-current").linked_to == "/etc/probe"
    assert host.file("/etc/probe").listdir() == ["app.env", "data.bin"]

    # Fleet.inspect reads what testinfra reads, all in one command.
    seen = fleet.inspect(
        name, ("/etc/probe-current", "/etc/probe", "/etc/probe/app.env", "/etc/probe/absent")
    )
    assert seen.paths["/etc/probe-current"]["target"] == "/etc/probe"
    assert seen.paths["/etc/probe"]["entries"] == ["app.env", "data.bin"]
    app = seen.paths["/etc/probe/app.env"]
    assert (app["mode"], app["user"], app["group"]) == (0o604, "daemon", "nogroup")
    assert seen.data("/etc/probe/app.env") == "A=1\nB=é\n".encode()
    assert seen.paths["/etc/probe/absent"] is None and seen.data("/etc/probe/absent") is None


def test_a_unit_start_time_and_state_are_read_anew(probe: tuple[Fleet, str]) -> None:
    fleet, name = probe
    host = fleet.host(name)
    fleet.write(name, "/etc/systemd/system/probe.service", "[Service]\nExecStart=/bin/sleep infinity\n")
    host.check_output("systemctl daemon-reload")
    assert fleet.unit_started(name, "probe") == ""
    assert not host.service("probe").is_running

    host.check_output("systemctl start probe")
    first = fleet.unit_started(name, "probe")
    assert first.endswith(" UTC") and host.service("probe").is_running
    time.sleep(1.1)  # systemd gives the time to the second
    host.check_output("systemctl restart probe")
    again = fleet.unit_started(name, "probe")
    assert again.endswith(" UTC") and again != first
    assert fleet.inspect(name, units=("probe",)).units == {"probe": again}  # the same, in one command


def test_a_command_past_its_timeout_is_stopped(probe: tuple[Fleet, str]) -> None:
    fleet, name = probe
    bounded = Fleet(probe_timeout=2)
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        bounded.host(name).run("sleep 120")
    assert time.monotonic() - started < 20
    # The podman exec of it is gone from this machine.
    listed = subprocess.run(
        ["pgrep", "-f", f"podman exec {fleet.container(name)} "], capture_output=True, timeout=30
    )
    assert listed.returncode == 1, listed.stdout


def test_a_zip_import_on_a_host_keeps_its_compiled_code_for_the_next(probe: tuple[Fleet, str]) -> None:
    """What an Ansible module run does on a host: python3 importing a module from a zip."""
    fleet, name = probe
    host = fleet.host(name)
    make_zip = (
        "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], 'w');"
        " z.writestr('probe_payload.py', 'def answer():\\n    return 42\\n'); z.close()"
    )
    run_zip = (
        "import sys; sys.path.insert(0, sys.argv[1]); import probe_payload; print(probe_payload.answer())"
    )
    cache = "/var/cache/intelgraph-zipimport"
    before = set(host.check_output(f"mkdir -p {cache} && ls {cache}").split())
    for archive in ("/tmp/probe-one.zip", "/tmp/probe-two.zip"):
        host.check_output(f'python3 -c "{make_zip}" {archive}')
        assert host.check_output(f'python3 -c "{run_zip}" {archive}') == "42"
    kept = set(host.check_output(f"ls {cache}").split()) - before
    assert len(kept) == 1, f"{cache} gained {sorted(kept)} for one source imported twice"
