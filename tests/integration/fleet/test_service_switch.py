"""intelgraph.ops.service_switch on a host of the fleet's image (systemd as PID 1): run as Ansible
runs it there (ansible, through the container's podman connection), and the unit, the link and the
service seen through systemd itself. The release is a stand-in: a directory whose `bin/` script
sleeps, so each restart shows as a new main PID."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from sandbox import ROOT, Fleet

UNIT = """[Unit]
Description=probe {name}

[Service]
Type=simple
ExecStart=/opt/probe/current/bin/serve

[Install]
WantedBy=multi-user.target
"""


def _switch(fleet: Fleet, name: str, args: dict[str, Any], check: bool = False) -> dict[str, Any]:
    """The module's result, run on the probe host by ansible with the json callback."""
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "tests/unit/ansible-module-tests.cfg"),  # the collection, no callbacks
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
    )
    container = fleet.container(name)
    proc = subprocess.run(
        [
            str(ROOT / ".venv/bin/ansible"), container, "-i", f"{container},", "-c", "containers.podman.podman",
            "-e", "ansible_python_interpreter=/usr/bin/python3",
            "-m", "intelgraph.ops.service_switch", "-a", json.dumps(args), *(["--check"] if check else []),
        ],
        capture_output=True, text=True, timeout=180, env=env, check=False,
    )  # fmt: skip
    assert proc.stdout, proc.stderr
    report = json.loads(proc.stdout)
    return report["plays"][0]["tasks"][0]["hosts"][container]


@pytest.fixture(scope="module")
def releases(probe: tuple[Fleet, str]) -> tuple[Fleet, str]:
    fleet, name = probe
    host = fleet.host(name)
    for version in ("1.0.0", "2.0.0"):
        host.check_output(
            f"mkdir -p /opt/probe/releases/{version}/bin"
            f" && printf '#!/bin/sh\\nexec sleep infinity\\n' > /opt/probe/releases/{version}/bin/serve"
            f" && chmod 0755 /opt/probe/releases/{version}/bin/serve"
        )
    return fleet, name


def _args(version: str, /, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "probe-service",
        "unit": UNIT.format(name="service"),
        "release": f"/opt/probe/releases/{version}",
        "link": "/opt/probe/current",
        **overrides,
    }


def _seen(fleet: Fleet, name: str) -> tuple[str, str, str, str]:
    host = fleet.host(name)
    return (
        host.check_output("readlink /opt/probe/current"),
        host.run("systemctl is-enabled probe-service").stdout.strip(),
        host.run("systemctl is-active probe-service").stdout.strip(),
        host.check_output("systemctl show --property MainPID --value probe-service"),
    )


def test_a_switch_writes_the_unit_points_the_link_enables_and_restarts_only_what_changed(
    releases: tuple[Fleet, str],
) -> None:
    fleet, name = releases
    first = _switch(fleet, name, _args("1.0.0"))
    assert (first["changed"], first["unit_changed"], first["link_changed"], first["enabled"]) == (
        True,
    ) * 4, first
    assert first["service_change"] == "restarted"
    link, enabled, active, pid = _seen(fleet, name)
    assert (link, enabled, active) == ("/opt/probe/releases/1.0.0", "enabled", "active") and pid != "0"
    unit = fleet.host(name).file("/etc/systemd/system/probe-service.service")
    assert (unit.content_string, unit.mode, unit.user, unit.group) == (
        UNIT.format(name="service"),
        0o644,
        "root",
        "root",
    )

    again = _switch(fleet, name, _args("1.0.0"))
    assert (again["changed"], again["service_change"]) == (False, "none"), again
    assert _seen(fleet, name)[3] == pid

    checked = _switch(fleet, name, _args("2.0.0"), check=True)
    assert (checked["changed"], checked["link_changed"], checked["service_change"]) == (
        True,
        True,
        "restarted",
    )
    assert _seen(fleet, name) == (link, enabled, active, pid)  # check mode changed nothing

    moved = _switch(fleet, name, _args("2.0.0"))
    assert (moved["link_changed"], moved["unit_changed"], moved["service_change"]) == (
        True,
        False,
        "restarted",
    )
    link, _, active, moved_pid = _seen(fleet, name)
    assert (link, active) == ("/opt/probe/releases/2.0.0", "active") and moved_pid not in ("0", pid)

    for overrides in ({"config_changed": True}, {"restart": "always"}):
        before = _seen(fleet, name)[3]
        restarted = _switch(fleet, name, _args("2.0.0", **overrides))
        assert (restarted["changed"], restarted["service_change"]) == (True, "restarted"), overrides
        assert _seen(fleet, name)[3] != before, overrides

    fleet.host(name).check_output("systemctl stop probe-service")
    started = _switch(fleet, name, _args("2.0.0", restart="never", config_changed=True))
    assert (started["changed"], started["service_change"]) == (True, "started")
    assert _seen(fleet, name)[2] == "active"


def test_a_release_that_is_not_installed_fails_and_leaves_the_link(releases: tuple[Fleet, str]) -> None:
    fleet, name = releases
    _switch(fleet, name, _args("1.0.0"))
    failed = _switch(fleet, name, _args("9.9.9"))
    assert failed["failed"] is True
    assert (
        failed["msg"]
        == "/opt/probe/releases/9.9.9 is not an installed release: /opt/probe/current was left as it was."
    )
    assert _seen(fleet, name)[0] == "/opt/probe/releases/1.0.0"


def test_with_a_ready_url_it_asks_the_started_service_and_fails_only_for_another_release(
    releases: tuple[Fleet, str],
) -> None:
    """The switch asks the service it started whether it is ready, on the release expected: a stand-in
    that serves /readyz and /version (3.0.0) from its release is found ready in the same run; asked
    for another release it fails, naming both; a service that does not answer is no failure (a
    task of its own waits for it), and check mode asks nothing."""
    fleet, name = releases
    host = fleet.host(name)
    www = "/opt/probe/releases/3.0.0/www"
    host.check_output(
        f"mkdir -p {www} /opt/probe/releases/3.0.0/bin && printf ok > {www}/readyz"
        f' && printf \'{{"version": "3.0.0"}}\' > {www}/version'
        " && printf '#!/bin/sh\\nexec python3 -m http.server 18089 --bind 127.0.0.1 --directory"
        f" /opt/probe/current/www\\n' > /opt/probe/releases/3.0.0/bin/serve"
        " && chmod 0755 /opt/probe/releases/3.0.0/bin/serve"
    )
    asked = {
        "ready_url": "http://127.0.0.1:18089/readyz",
        "version_url": "http://127.0.0.1:18089/version",
        "ready_wait": 10,
    }

    ready = _switch(fleet, name, _args("3.0.0", version="3.0.0", **asked))
    assert ready.get("failed") is not True, ready
    assert (ready["service_change"], ready["ready"]["status"], ready["service"]["version"]) == (
        "restarted",
        200,
        "3.0.0",
    )

    other = _switch(fleet, name, _args("3.0.0", version="9.9.9", **asked))
    assert other["failed"] is True
    assert (
        other["msg"] == "http://127.0.0.1:18089/version answers release 3.0.0, not 9.9.9, though it is ready."
    )
    assert other["service_change"] == "none"  # running on its release already: not restarted

    mute = _switch(
        fleet,
        name,
        _args("3.0.0", version="3.0.0", ready_url="http://127.0.0.1:18090/readyz",
              version_url="http://127.0.0.1:18090/version", ready_wait=0.5),
    )  # fmt: skip
    assert mute.get("failed") is not True, mute
    assert (mute["ready"]["status"], mute["service"]) == (-1, {})

    checked = _switch(fleet, name, _args("2.0.0", version="2.0.0", **asked), check=True)
    assert checked["service_change"] == "restarted" and "ready" not in checked
    assert _seen(fleet, name)[0] == "/opt/probe/releases/3.0.0"
