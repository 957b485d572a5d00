"""Drive the sandbox fleet from end-to-end tests: run playbooks against it and observe its
hosts (files, services, Redis, PostgreSQL, HTTP) directly, never through the code under test.
A host's files and services are seen through testinfra (Fleet.host), each command it runs in the
host's container bounded in time.

The fleet is the one of inventories/sandbox; INTELGRAPH_SANDBOX_ID picks which one when
several run side by side (see inventories/sandbox/group_vars/all.yml).
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import fcntl
import hashlib
import itertools
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis
import yaml
from testinfra.backend.base import CommandResult
from testinfra.backend.podman import PodmanBackend
from testinfra.host import Host

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
INVENTORY = ROOT / "inventories/sandbox"
LOGS = ROOT / ".sandbox/logs"
SSH_KEY = ROOT / ".sandbox/ssh/id_ed25519"  # made by sandbox/playbooks/fleet_up.yml
# As the sandbox inventory's connection settings (group_vars/all.yml, ansible.cfg) reach a host.
SSH_OPTIONS = [
    "-i", str(SSH_KEY), "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "PreferredAuthentications=publickey",
]  # fmt: skip
INSPECT_HOST = Path(__file__).parent / "inspect_host.py"  # run on a host by Fleet.inspect
PORTS = {"api": 8080, "ingest": 9101}
STATE_STORE = "/var/lib/intelgraph-ops"  # intelgraph_state_dir's default, on the first tools host
# The modules each run builds and the code of the templates it compiles, kept for the runs after
# it (callback_plugins/compile_cache.py).
CACHE_PLUGINS = Path(__file__).parent / "callback_plugins"
MODULE_CACHE = ROOT / ".sandbox/module-cache"
TEMPLATE_CACHE = ROOT / ".sandbox/template-cache"
PROBE_TIMEOUT = 60  # seconds: the longest any one command on a host may take (Fleet.host)
# The images of a deployed and seeded fleet (Fleet.fresh), one a host, shared by every fleet of
# the sandbox inventory: localhost/<FLEET_IMAGES>-<host>:<key>. They keep the network of the fleet
# that made them (label intelgraph.fleet-image.net) and, on each host, the list of its files that
# hold that network's addresses (FLEET_READDRESS): a fleet on another network has them rewritten
# before its hosts boot (Fleet.start_from_images). One fleet at a time makes them; the others wait
# for it (FLEET_IMAGES_LOCK: the lanes of one `make test` want them at about the same time).
FLEET_IMAGES = "intelgraph-sandbox-fleet"
FLEET_READDRESS = "/etc/intelgraph-sandbox-addressed"
FLEET_IMAGES_LOCK = Path(tempfile.gettempdir()) / "intelgraph-sandbox-fleet-images.lock"
# What a deployed and seeded fleet is made of: its images are saved under a hash of these files
# and made again when one of them changes.
FLEET_INPUTS = [
    "ansible.cfg",
    "requirements.txt",
    "meta",
    "plugins",
    "roles",
    "playbooks/site.yml",
    "inventories/sandbox",
    "sandbox/image",
    "sandbox/dist",
    "sandbox/playbooks/fleet_up.yml",
    "sandbox/playbooks/fleet_save.yml",
    "sandbox/playbooks/seed.yml",
]


def sandbox_id() -> int:
    return int(os.environ.get("INTELGRAPH_SANDBOX_ID") or 0)


def group_vars() -> dict[str, Any]:
    return yaml.safe_load((INVENTORY / "group_vars/all.yml").read_text())


RUNS: list[PlaybookRun] = []  # the current test's runs, in order; conftest shows its failed ones


@dataclass
class PlaybookRun:
    """The outcome of one ansible-playbook run: exit code and everything it printed."""

    args: list[str]
    rc: int
    output: str
    log: Path

    def __post_init__(self) -> None:
        RUNS.append(self)

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def failures(self, lines_each: int = 12) -> str:
        """The tasks that failed, as the run printed them: each `fatal:`/`failed:` result under
        its TASK line, cut to lines_each lines; for the report of a test that failed."""
        out: list[str] = []
        task, taken = "", 0
        for line in self.output.splitlines():
            if line.startswith(("TASK [", "PLAY ", "RUNNING HANDLER [")):
                task, taken = line.rstrip(" *"), 0
            elif line.startswith(("fatal: ", "failed: ")):
                out += ["", task] if task else [""]
                task, taken = "", lines_each
                out.append(line)
            elif taken > 1 and line.strip():
                out.append(line)
                taken -= 1
            else:
                taken = 0
        return "\n".join(out).strip()

    def recap(self) -> dict[str, dict[str, int]]:
        """The PLAY RECAP per host: {host: {ok, changed, failed, ...}}."""
        recap: dict[str, dict[str, int]] = {}
        # Up to profile_tasks' TASKS RECAP, whose lines ("role : task --- 0.11s") are no hosts.
        for line in self.output.split("PLAY RECAP")[-1].split("TASKS RECAP")[0].splitlines():
            match = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
            if match:
                recap[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
        return recap

    def changed_hosts(self) -> list[str]:
        return sorted(h for h, counts in self.recap().items() if counts.get("changed", 0))

    def plays_on_no_host(self) -> list[str]:
        """The plays that matched no host, by name (`skipping: no hosts matched` under the PLAY line)."""
        return re.findall(r"^PLAY \[(.+)\] \**\n+skipping: no hosts matched$", self.output, re.M)

    def task_hosts(self, task: str) -> list[str]:
        """The hosts a task ran on (ok or changed, not skipped), one entry per run of it: the
        task's name as its TASK line prints it, e.g. `intelgraph_service : Write the service
        settings and the connection secrets`."""
        hosts: list[str] = []
        current = ""
        for line in self.output.splitlines():
            if line.startswith("TASK ["):
                current = line[len("TASK [") :].rsplit("]", 1)[0]
            else:
                match = re.match(r"^(?:ok|changed): \[([^\]\s]+)", line)
                if match and current.endswith(task):
                    hosts.append(match.group(1))
        return hosts


@dataclass
class HostReading:
    """What Fleet.inspect read on a host: paths (None when not there) and units' start times."""

    paths: dict[str, dict[str, Any] | None]
    units: dict[str, str]

    def data(self, path: str) -> bytes | None:
        info = self.paths[path]
        return info.get("data") if info else None


@dataclass
class RunningPlaybook:
    """An ansible-playbook run started in the background (Fleet.start_playbook)."""

    args: list[str]
    proc: subprocess.Popen[bytes]
    log: Path

    def wait(self, timeout: float = 1200) -> PlaybookRun:
        """Wait for the run to end and return its outcome, like Fleet.playbook()."""
        rc = self.proc.wait(timeout=timeout)
        output = self.log.read_text().split("\n\n", 1)[-1]
        return PlaybookRun(self.args, rc, output, self.log)


BACKGROUND_RUNS = itertools.count(1)


class BoundedPodmanBackend(PodmanBackend):
    """testinfra's podman backend (`podman exec <container> /bin/sh -c <command>`), each command
    bounded: testinfra's own waits for ever. Past `timeout` seconds, the `podman exec` is killed
    with its shell and subprocess.TimeoutExpired is raised (what it ran in the container may run
    on)."""

    def __init__(self, name: str, *args: Any, timeout: float = PROBE_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(name, *args, **kwargs)
        self.timeout = timeout

    def run_local(self, command: str, *args: str) -> CommandResult:
        cmd = self.encode(self.quote(command, *args))
        with subprocess.Popen(
            cmd,
            shell=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        ) as proc:
            try:
                stdout, stderr = proc.communicate(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                raise
        return self.result(proc.returncode, cmd, stdout, stderr)


@dataclass(frozen=True)
class Controller:
    """A machine the playbooks are run from: a checkout and a host name. The tests' own is this
    checkout under this machine's name. Another (Controller.copy) is a copy of the checkout, run
    under a host name of its own (a UTS namespace): nothing of the first one's disk or name is
    shared, as with a second operator's machine; only the virtualenv is the same. A third kind
    (Controller.installed) has no checkout: the collection installed in a collections path, run
    by name from a directory that holds only an inventory."""

    root: Path = ROOT  # the checkout; for an installed collection, the directory runs start in
    hostname: str = ""  # empty: this machine's
    collections: Path | None = None  # the collections path of an installed collection

    @classmethod
    def copy(cls, into: Path, hostname: str) -> Controller:
        """A copy of the checkout at into (its source, the release tarballs and the fleet's SSH
        key; none of its runs' state, reports or logs), run under hostname."""
        own = {".git", ".venv", ".sandbox", "reports", "state"}
        shutil.copytree(
            ROOT,
            into,
            symlinks=True,
            ignore=lambda at, names: [
                n for n in names if (Path(at) == ROOT and n in own) or n in ("__pycache__", ".ruff_cache")
            ],
        )
        shutil.copytree(ROOT / ".sandbox" / "ssh", into / ".sandbox" / "ssh")
        return cls(into, hostname)

    @classmethod
    def installed(cls, collections: Path, into: Path, fleet: Fleet) -> Controller:
        """The collection installed in collections (install_collection), run as a user runs it:
        `ansible-playbook -i inventory intelgraph.ops.<name>` from into, a new directory given
        only a copy of the fleet's inventory (`inventory/`). No ansible.cfg: what the project's
        gives the connection is in the copy's group_vars (INSTALLED_CONNECTION), the forks on
        the command line. The copy keeps the checkout's SSH key and release tarballs
        (INTELGRAPH_SANDBOX_ROOT) but not its places for reports and earlier state: those are
        the roles' defaults, the reports under into (PWD)."""
        inventory = into / "inventory"
        shutil.copytree(fleet.inventory, inventory)
        settings_file = inventory / "group_vars" / "all.yml"
        settings = yaml.safe_load(settings_file.read_text())
        for name in ("intelgraph_report_dir", "intelgraph_controller_state_dir"):
            del settings[name]
        settings.update(INSTALLED_CONNECTION)
        settings_file.write_text(yaml.safe_dump(settings, sort_keys=False, width=1000))
        return cls(into, collections=collections)

    @property
    def name(self) -> str:
        """The host name its runs see (socket.gethostname() there)."""
        return self.hostname or socket.gethostname()

    def command(self, cmd: list[str]) -> list[str]:
        if not self.hostname:
            return cmd
        return ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', self.hostname, *cmd]

    def inventory(self, fleet: Fleet) -> Path:
        """The fleet's inventory on this controller."""
        if self.collections:
            return self.root / "inventory"
        return self.root / fleet.inventory.relative_to(ROOT)

    def playbook(self, playbook: str) -> list[str]:
        """What ansible-playbook is given for a playbook of the project (its path in the
        checkout, e.g. playbooks/upgrade.yml): that path, or, for an installed collection, the
        playbook's name (intelgraph.ops.upgrade) and the forks the project's ansible.cfg sets."""
        if not self.collections:
            return [playbook]
        path = Path(playbook)
        assert path.parent == Path("playbooks"), f"{playbook} is no playbook of the collection"
        return [f"intelgraph.ops.{path.stem}", "--forks", str(INSTALLED_FORKS)]

    def state_dir(self, fleet: Fleet) -> Path:
        """Its runs' state directory for the fleet (window, ledger, restore points)."""
        return self.root / ".sandbox" / fleet.name / "state"


# What the project's ansible.cfg sets for the sandbox's connections, as a user of the installed
# collection puts it in the inventory's variables (Controller.installed), and its forks.
INSTALLED_CONNECTION = {
    "ansible_python_interpreter": "/usr/bin/python3",  # localhost keeps its own (hosts.yml)
    "ansible_host_key_checking": False,
    "ansible_ssh_pipelining": True,
    "ansible_ssh_args": "-o ControlMaster=auto -o ControlPersist=120s -o PreferredAuthentications=publickey",
    "ansible_ssh_timeout": 30,
}
INSTALLED_FORKS = 25


HERE = Controller()


@dataclass
class Fleet:
    """The sandbox fleet as the tests see it."""

    id: int = field(default_factory=sandbox_id)
    inventory: Path = INVENTORY  # e.g. inventories/sandbox-docker: the same hosts, other group_vars
    groups: dict[str, list[str]] = field(default_factory=dict)
    octets: dict[str, int] = field(default_factory=dict)
    dirty: bool = True  # whether it may differ from what site.yml makes of a fresh fleet
    probe_timeout: float = PROBE_TIMEOUT  # seconds, for each command Fleet.host runs on a host
    testinfra_hosts: dict[str, Host] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        data = yaml.safe_load((self.inventory / "hosts.yml").read_text())
        for group, body in data["all"]["children"].items():
            hosts = body.get("hosts") or {}
            self.groups[group] = list(hosts)
            for host, hostvars in hosts.items():
                self.octets[host] = int(str(hostvars["ansible_host"]).rstrip("'").rsplit(".", 1)[1])
        secrets = group_vars()
        self.redis_password = secrets["intelgraph_redis_password"]
        self.db_password = secrets["intelgraph_db_password"]

    @property
    def name(self) -> str:
        return "intelgraph-sandbox" + (str(self.id) if self.id else "")

    @property
    def hosts(self) -> list[str]:
        """Every host of the inventory, group by group."""
        return [host for group in self.groups.values() for host in group]

    @property
    def net(self) -> str:
        return f"10.89.{40 + self.id}"

    def address(self, host: str) -> str:
        return f"{self.net}.{self.octets[host]}"

    @property
    def engine_socket(self) -> str:
        """The fleet's Docker-API engine (podman system service) of the docker runtime."""
        return f"/run/podman/{self.name}.sock"

    @property
    def reports(self) -> Path:
        """Where the fleet's runs write their reports (intelgraph_report_dir's parent)."""
        return ROOT / "reports" / ("" if not self.id else self.name)

    @property
    def logs(self) -> Path:
        """Where the tests keep the output of each playbook run against this fleet."""
        return LOGS / self.name

    @property
    def lb_url(self) -> str:
        return f"http://{self.address(self.groups['lb'][0])}"

    # --- running playbooks ------------------------------------------------------------

    def env(self, controller: Controller = HERE) -> dict[str, str]:
        env = dict(os.environ)
        if controller.collections:
            # As a user runs the installed collection: none of the project's settings (no
            # ANSIBLE_* of the caller's, no ANSIBLE_CONFIG, no phase timer file), the collection
            # found in its collections path, in the directory the run starts in (PWD, as a
            # shell sets it: the roles' reports go there).
            env = {k: v for k, v in env.items() if not k.startswith(("ANSIBLE_", "INTELGRAPH_"))}
            env.update(
                PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
                ANSIBLE_COLLECTIONS_PATH=str(controller.collections),
                PWD=str(controller.root),
                INTELGRAPH_SANDBOX_ROOT=str(ROOT),  # the fleet's SSH key and release tarballs
                INTELGRAPH_SANDBOX_ID=str(self.id),
                ANSIBLE_FORCE_COLOR="0",
                ANSIBLE_NOCOLOR="1",
            )
            return env
        if controller == HERE:
            # The modules built and the templates' code compiled by one run kept for the next
            # (callback_plugins/); not for another controller, which shares nothing of this one's disk.
            env.update(
                ANSIBLE_CALLBACK_PLUGINS=str(CACHE_PLUGINS),
                INTELGRAPH_MODULE_CACHE=str(MODULE_CACHE),
                INTELGRAPH_TEMPLATE_CACHE=str(TEMPLATE_CACHE),
            )
        env.update(
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            ANSIBLE_CONFIG=str(controller.root / "ansible.cfg"),
            INTELGRAPH_SANDBOX_ROOT=str(controller.root),
            INTELGRAPH_SANDBOX_ID=str(self.id),
            ANSIBLE_FORCE_COLOR="0",
            ANSIBLE_NOCOLOR="1",
            INTELGRAPH_TIMINGS_FILE=str(
                controller.root / self.reports.relative_to(ROOT) / "run-timings.json"
            ),
        )
        return env

    def command(
        self, playbook: str, args: tuple[str, ...], extra_vars: dict[str, Any] | None, controller: Controller
    ) -> list[str]:
        inventory = controller.inventory(self)
        cmd = [str(BIN / "ansible-playbook"), "-i", str(inventory), *controller.playbook(playbook), *args]
        if extra_vars:
            cmd += ["--extra-vars", json.dumps(extra_vars)]
        return controller.command(cmd)

    def playbook(
        self,
        playbook: str,
        *args: str,
        extra_vars: dict[str, Any] | None = None,
        timeout: float = 1200,
        env: dict[str, str] | None = None,
        controller: Controller = HERE,
    ) -> PlaybookRun:
        """Run a playbook of the project against the fleet, from controller (default this
        checkout; Controller.installed: the installed collection's playbook of that name); never
        raises on failure. `env` adds to (or overrides) the environment of
        ansible-playbook, e.g. ANSIBLE_* settings."""
        cmd = self.command(playbook, args, extra_vars, controller)
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{time.strftime('%H%M%S')}-{Path(playbook).stem}.log"
        proc = subprocess.run(
            cmd,
            cwd=controller.root,
            env={**self.env(controller), **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        output = proc.stdout + proc.stderr
        log.write_text(" ".join(cmd) + "\n\n" + output)
        return PlaybookRun(cmd, proc.returncode, output, log)

    def exists(self) -> bool:
        """Whether anything of this fleet is on the machine (containers, network or engine)."""
        label = f"label=intelgraph.sandbox={self.name}"
        listed = subprocess.run(
            ["podman", "ps", "-aq", "--filter", label], capture_output=True, text=True, timeout=60
        ).stdout.strip()
        network = subprocess.run(["podman", "network", "exists", self.name], timeout=60).returncode == 0
        return bool(listed) or network or os.path.exists(self.engine_socket)

    def up(self) -> None:
        run = self.playbook("sandbox/playbooks/fleet_up.yml")
        assert run.ok, f"fleet_up failed, see {run.log}"

    def down(self) -> None:
        run = self.playbook("sandbox/playbooks/fleet_down.yml")
        assert run.ok, f"fleet_down failed, see {run.log}"

    def deploy(self, *args: str) -> None:
        """site.yml and the seed; args go to ansible-playbook (e.g. "-e", "@secrets.yml")."""
        run = self.playbook("playbooks/site.yml", "sandbox/playbooks/seed.yml", *args)
        assert run.ok, f"site.yml or seed.yml failed, see {run.log}"

    # --- fleets from images ----------------------------------------------------------------

    def image_key(self) -> str:
        """The key of the fleet images: what builds a fleet deployed and seeded."""
        return inputs_key(ROOT, FLEET_INPUTS, FLEET_IMAGES)

    @staticmethod
    def image(host: str, key: str) -> str:
        return f"localhost/{FLEET_IMAGES}-{host}:{key}"

    def images_exist(self, key: str) -> bool:
        return all(
            subprocess.run(["podman", "image", "exists", self.image(host, key)], timeout=60).returncode == 0
            for host in self.hosts
        )

    def fresh(self) -> str:
        """Start the fleet anew from the fleet images: on 24.0.0, deployed and seeded, as site.yml
        and the seed leave a new fleet. The images are made first, by this fleet (a new fleet,
        site.yml, the seed, then sandbox/playbooks/fleet_save.yml), when none were saved from the
        same inputs; a fleet that finds another making them waits for it. Returns their key."""
        key = self.image_key()
        with FLEET_IMAGES_LOCK.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            made = self.images_exist(key) and SSH_KEY.exists()
            if not made:
                self.down()
                self.up()
                self.deploy()
                run = self.playbook(
                    "sandbox/playbooks/fleet_save.yml",
                    extra_vars={
                        "sandbox_fleet_images": key,
                        "sandbox_fleet_image_name": FLEET_IMAGES,
                        "sandbox_fleet_readdress": FLEET_READDRESS,
                    },
                )
                assert run.ok, f"fleet_save failed, see {run.log}"
        if made and self.leftovers():
            self.down()  # what fleet_down.yml removes, besides the hosts the start below replaces
        self.start_from_images(key)
        return key

    def leftovers(self) -> list[str]:
        """What an earlier fleet of this name left that starting its hosts anew would not replace:
        containers other than its hosts (the docker runtime's), its Docker-API engine, the traffic
        generator, run state an earlier layout kept on the controller."""
        hosts = {self.container(host) for host in self.hosts}
        label = f"label=intelgraph.sandbox={self.name}"
        listed = subprocess.run(
            ["podman", "ps", "-a", "--filter", label, "--format", "{{.Names}}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.split()
        found = [f"container {name}" for name in listed if name not in hosts]
        paths = (
            Path(self.engine_socket),
            self.traffic_stats_path.with_suffix(".pid"),
            ROOT / ".sandbox" / self.name / "state",  # intelgraph_controller_state_dir
        )
        return found + [str(path) for path in paths if path.exists()]

    def start_from_images(self, key: str) -> None:
        """Every host started anew from its fleet image (Fleet.image), a new container in place
        of the one there (podman run --replace), with its own address on the fleet's network and
        the sandbox's SSH key. Images made on another network boot once the host's files that
        held that network's addresses (HAProxy's servers, the replica's primary, the services'
        connection settings, Prometheus' targets, PostgreSQL's allowed network) have this fleet's
        instead, as site.yml would have written them here (Fleet.readdress). Then, as site.yml
        waited when it deployed, wait until each host answers SSH with systemd booted and the
        fleet serves (Fleet.not_serving)."""
        if subprocess.run(["podman", "network", "exists", self.name], timeout=60).returncode != 0:
            subnet, gateway = f"{self.net}.0/24", f"{self.net}.1"
            subprocess.run(
                ["podman", "network", "create", "--subnet", subnet, "--gateway", gateway, self.name],
                capture_output=True,
                timeout=60,
                check=True,
            )
        hosts = self.hosts
        made_on = subprocess.run(
            ["podman", "image", "inspect", "--format", '{{ index .Config.Labels "intelgraph.fleet-image.net" }}',
             self.image(hosts[0], key)],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout.strip()  # fmt: skip
        boot = self.readdress(made_on) if made_on != self.net else []
        common = [
            *("--network", self.name, "--systemd", "always", "--label", f"intelgraph.sandbox={self.name}"),
            *("--volume", f"{SSH_KEY}.pub:/root/.ssh/authorized_keys:ro"),
            *(arg for host in hosts for arg in ("--add-host", f"{host}:{self.address(host)}")),
        ]
        starts = {
            host: subprocess.Popen(
                [
                    *("podman", "run", "--detach", "--replace", "--pull", "never", *common),
                    *("--name", self.container(host), "--hostname", host, "--ip", self.address(host)),
                    self.image(host, key),
                    *boot,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for host in hosts
        }
        errors = {host: start.communicate(timeout=120)[1].strip() for host, start in starts.items()}
        failed = {host: errors[host] for host, start in starts.items() if start.returncode}
        assert not failed, f"podman could not start hosts from images {key}: {failed}"
        # The new containers have the old ones' addresses but not their MAC addresses: what this
        # machine still has cached of the old ones would hold up its packets for up to a minute.
        subprocess.run(["ip", "neigh", "flush", "to", f"{self.net}.0/24"], timeout=60, check=True)
        with concurrent.futures.ThreadPoolExecutor(len(hosts)) as pool:
            booted = dict(zip(hosts, pool.map(self.booted, hosts), strict=True))
        assert set(booted.values()) <= {"running", "degraded"}, (
            f"hosts not up and booted after 60 s: {booted}"
        )
        deadline = time.monotonic() + 90
        while (pending := self.not_serving()) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not pending, f"a fleet started from images {key} does not serve after 90 s: {pending}"

    def readdress(self, made_on: str) -> list[str]:
        """The command a host started from images made on the network `made_on` (10.89.N) boots
        with: in each file FLEET_READDRESS lists, that network's addresses become this fleet's
        (sed keeps each file's owner and mode), then systemd starts, the image's own command. A
        rewrite that fails leaves the host down, so that the fleet's start fails."""
        old = re.escape(f"{made_on}.")
        return [
            "/bin/sh", "-c",
            f"xargs -r -d '\\n' -a {FLEET_READDRESS} sed -i --follow-symlinks 's/\\b{old}/{self.net}./g'"
            " && exec /sbin/init",
        ]  # fmt: skip

    def booted(self, host: str) -> str:
        """systemd's state on a host (`systemctl is-system-running --wait`: running or degraded
        once it has booted), asked over SSH as the playbooks reach the host, tried again while SSH
        does not answer, for 60 s at most; SSH's error after that."""
        deadline = time.monotonic() + 60
        target = f"root@{self.address(host)}"
        command = ["ssh", *SSH_OPTIONS, target, "systemctl", "is-system-running", "--wait"]
        while True:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
            if proc.returncode != 255 or time.monotonic() > deadline:
                return proc.stdout.strip() or proc.stderr.strip()
            time.sleep(1)

    def not_serving(self) -> dict[str, Any]:
        """What of a deployed fleet does not serve yet, with what was seen of it: every API host
        ready and every ingest worker's status, each Redis answering and each replica linked to
        its primary, PostgreSQL taking connections, HAProxy with every API host UP, Prometheus
        with a scrape of every API and ingest host in the last 10 s. Empty when all do."""
        api, ingest = self.groups["api"], self.groups["ingest"]
        # This fleet's own targets, up at their last scrape, and that scrape in the last 10 s:
        # timestamp() of a selector is its sample's time (of an expression, the query's), and a
        # fleet started from another fleet's images keeps that fleet's series for 5 minutes.
        targets = "|".join(
            f"{self.address(h)}:{PORTS[kind]}".replace(".", "[.]")
            for kind in PORTS
            for h in self.groups[kind]
        )
        scraped = (
            f'count(up{{instance=~"{targets}"}} == 1'
            f' and on(instance) time() - timestamp(up{{instance=~"{targets}"}}) < 10)'
        )

        def redis_linked(host: str) -> dict[str, Any]:
            info = self.redis(host).info("replication")
            return {"role": info["role"], "link": info.get("master_link_status", "")}

        def pg_accepts() -> bool:
            with self.pg() as conn:
                return conn.execute("SELECT true").fetchone()[0]

        checks: list[tuple[str, Callable[[], Any], Callable[[Any], bool]]] = [
            *(
                (f"{h} /readyz", lambda h=h: self.http(h, PORTS["api"], "/readyz")[0], lambda s: s == 200)
                for h in api
            ),
            *(
                (f"{h} /status", lambda h=h: self.http(h, PORTS["ingest"], "/status")[0], lambda s: s == 200)
                for h in ingest
            ),
            *(
                (
                    f"{h} Redis",
                    lambda h=h: redis_linked(h),
                    lambda r: r["role"] == "master" or r["link"] == "up",
                )
                for h in self.groups["cache"]
            ),
            ("PostgreSQL", pg_accepts, bool),
            ("HAProxy", self.haproxy_states, lambda states: states == dict.fromkeys(api, "UP")),
            (
                "Prometheus's scrapes",
                lambda: self.prometheus_value(scraped),
                lambda n: n == len(api) + len(ingest),
            ),
        ]
        pending: dict[str, Any] = {}
        for name, probe, ok in checks:
            try:
                seen = probe()
            except (OSError, ValueError, KeyError, redis.RedisError, psycopg.Error) as exc:
                seen = repr(exc)
            else:
                if ok(seen):
                    continue
            pending[name] = seen
        return pending

    # --- observing hosts --------------------------------------------------------------

    def container(self, host: str) -> str:
        return f"{self.name}-{host}"

    def host(self, name: str) -> Host:
        """The testinfra host of a fleet host (its container), one per host and fleet: e.g.
        `fleet.host("api1").file(path).content`, `.service(unit).is_running`, `.run(command)`."""
        if name not in self.testinfra_hosts:
            backend = BoundedPodmanBackend(self.container(name), timeout=self.probe_timeout)
            self.testinfra_hosts[name] = Host(backend)
        return self.testinfra_hosts[name]

    def http(
        self, host: str, port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 5
    ) -> tuple[int, Any]:
        return http_get(f"http://{self.address(host)}:{port}{path}", headers, timeout)

    def version(self, host: str) -> str | None:
        group = "api" if host in self.groups["api"] else "ingest"
        try:
            status, body = self.http(host, PORTS[group], "/version")
        except OSError:
            return None
        return body.get("version") if status == 200 else None

    def versions(self) -> dict[str, str | None]:
        return {h: self.version(h) for h in self.groups["api"] + self.groups["ingest"]}

    def redis(self, host: str | None = None) -> redis.Redis:
        host = host or self.groups["cache"][0]
        return redis.Redis(
            host=self.address(host),
            port=6379,
            password=self.redis_password,
            socket_timeout=5,
            decode_responses=True,
        )

    def pg(self) -> psycopg.Connection:
        return psycopg.connect(
            host=self.address(self.groups["db"][0]),
            dbname="intelgraph",
            user="intelgraph",
            password=self.db_password,
            connect_timeout=5,
            autocommit=True,
        )

    def inspect(self, host: str, paths: tuple[str, ...] = (), units: tuple[str, ...] = ()) -> HostReading:
        """Paths and units of one host, read in one command on it (tests/e2e/inspect_host.py, run
        by the host's own Python): for each path, None when it is not there, else its mode, owner,
        group, target (`readlink -f`, for any path) and entries (for a directory) or bytes (for a
        file); for each unit, systemd's ActiveEnterTimestamp (as unit_started)."""
        request = json.dumps({"paths": list(paths), "units": list(units)})
        out = self.host(host).check_output("python3 -c %s %s", INSPECT_HOST.read_text(), request)
        answer = json.loads(out)
        for info in answer["paths"].values():
            if info and "data" in info:
                info["data"] = base64.b64decode(info["data"])
        return HostReading(answer["paths"], answer["units"])

    def files(self, paths_by_group: dict[str, list[str]]) -> dict[tuple[str, str], bytes | None]:
        """Every listed file of every host of each group, byte for byte (None when it is not there)."""
        found: dict[tuple[str, str], bytes | None] = {}
        for group, paths in paths_by_group.items():
            for host in self.groups[group]:
                reading = self.inspect(host, tuple(paths))
                for path in paths:
                    found[host, path] = reading.data(path)
        return found

    def prometheus_value(self, query: str) -> float | None:
        """The value of an instant query to the fleet's Prometheus: its first series' value, None
        when it returns none or NaN (a quantile of no observations)."""
        url = f"http://{self.address(self.groups['observability'][0])}:9090/api/v1/query?query={urllib.parse.quote(query)}"
        status, body = http_get(url, None, 5)
        result = body["data"]["result"] if status == 200 else []
        value = float(result[0]["value"][1]) if result else math.nan
        return None if math.isnan(value) else value

    def haproxy_states(self) -> dict[str, str]:
        """{server: status} of the API backend on the first load balancer (UP, DOWN, MAINT, DRAIN)."""
        lb = self.groups["lb"][0]
        _, body = http_get(f"http://{self.address(lb)}:8404/stats;csv", None, 5, raw=True)
        states = {}
        for line in body.splitlines():
            cols = line.split(",")
            if len(cols) > 17 and cols[0] == "be_api" and cols[1] not in ("BACKEND", "FRONTEND"):
                states[cols[1]] = cols[17]
        return states

    # --- traffic ----------------------------------------------------------------------

    @property
    def traffic_stats_path(self) -> Path:
        return ROOT / ".sandbox" / f"{self.name}-traffic.json"

    @contextlib.contextmanager
    def traffic(self) -> Iterator[dict[str, Any]]:
        """Steady traffic through the load balancer for the duration of the block: the sandbox's
        generator (sandbox/traffic/traffic.py) at its default rates, as sandbox/playbooks/traffic.yml
        starts it for `make demo` and Molecule, but without a playbook run (some 1.5 s of CPU each
        start and stop), with the fleet's Redis password in its environment, never on its command
        line. The yielded dict is filled with the final statistics when the block ends."""
        stats: dict[str, Any] = {}
        password = urllib.parse.quote(self.redis_password, safe="")
        primary = self.address(self.groups["cache"][0])
        env = {**os.environ, "INTELGRAPH_TRAFFIC_REDIS_URL": f"redis://:{password}@{primary}:6379/0"}
        started = self.traffic_command(
            "start",
            "--base-url",
            f"http://{self.address(self.groups['lb'][0])}",
            env=env,
        )
        assert started.returncode == 0, f"traffic start failed: {started.stdout}{started.stderr}"
        try:
            yield stats
        finally:
            stats.update(self.traffic_stop())

    def traffic_command(
        self, action: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run sandbox/traffic/traffic.py ACTION on this fleet's statistics file."""
        return subprocess.run(
            [
                sys.executable,
                str(ROOT / "sandbox/traffic/traffic.py"),
                action,
                *args,
                "--stats",
                str(self.traffic_stats_path),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def traffic_stop(self) -> dict[str, Any]:
        """Stop the traffic and return its final statistics."""
        stopped = self.traffic_command("stop")
        assert stopped.returncode == 0, f"traffic stop failed: {stopped.stdout}{stopped.stderr}"
        return self.traffic_stats()

    def traffic_stats(self) -> dict[str, Any]:
        """The traffic's statistics: so far while it runs (written every second), final once stopped."""
        return json.loads(self.traffic_stats_path.read_text())

    # --- background runs ------------------------------------------------------------------

    def start_playbook(
        self,
        playbook: str,
        *args: str,
        extra_vars: dict[str, Any] | None = None,
        controller: Controller = HERE,
    ) -> RunningPlaybook:
        """Start a playbook of the project in the background, from controller (default this
        checkout); .wait() gives its PlaybookRun."""
        cmd = self.command(playbook, args, extra_vars, controller)
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{time.strftime('%H%M%S')}-{Path(playbook).stem}-bg{next(BACKGROUND_RUNS)}.log"
        with log.open("w") as out:
            out.write(" ".join(cmd) + "\n\n")
            out.flush()
            # A session of its own, so a test can stop the controller as an operator's kill would.
            proc = subprocess.Popen(
                cmd,
                cwd=controller.root,
                env=self.env(controller),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return RunningPlaybook(cmd, proc, log)

    # --- ad hoc modules, files, units -------------------------------------------------

    def module(self, pattern: str, module: str, args: dict[str, Any], timeout: float = 600) -> PlaybookRun:
        """Run one module ad hoc on the hosts of pattern (e.g. intelgraph.ops.queue_drain on
        ingest1); never raises on failure."""
        cmd = [str(BIN / "ansible"), pattern, "-m", module, "-a", json.dumps(args)]
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{time.strftime('%H%M%S')}-{module.rsplit('.', 1)[-1]}.log"
        proc = subprocess.run(cmd, cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=timeout)
        output = proc.stdout + proc.stderr
        log.write_text(" ".join(cmd) + "\n\n" + output)
        return PlaybookRun(cmd, proc.returncode, output, log)

    def write(self, host: str, path: str, content: str | bytes, mode: str = "0644") -> None:
        """Write a file on a host, root-owned (its directory is created)."""
        data = content.encode() if isinstance(content, str) else content
        self.feed(host, data, 'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"', path, mode)

    def unpack_release(self, host: str, version: str, root: str = "/opt/intelgraph") -> str:
        """Put a built release into <root>/releases/<version> on a host, as the release role
        would (it never unpacks a version that is already there); return that directory."""
        tarball = ROOT / "sandbox/dist" / f"intelgraph-server-{version}.tar.gz"
        dest = f"{root}/releases/{version}"
        self.feed(host, tarball.read_bytes(), 'mkdir -p "$1" && tar -xzf - -C "$1" --no-same-owner', dest)
        return dest

    def feed(self, host: str, data: bytes, script: str, *args: str) -> None:
        """Run a shell script on a host with data on its standard input and args as $1...;
        raises when it fails. testinfra gives a command no input: the data goes base64-encoded
        in the command line, which holds some 90 kB of it."""
        encoded = base64.b64encode(data).decode()
        self.host(host).check_output(
            "echo %s | base64 -d | sh -c %s sh" + " %s" * len(args), encoded, script, *args
        )

    def signal_worker(self, host: str, signal_name: str) -> None:
        """Send the ingest worker of `host` a signal, its main process only: SIGUSR1 quiesces it
        (its batch finished and acknowledged, no new message), SIGUSR2 resumes it."""
        self.host(host).check_output(
            "systemctl kill --kill-whom=main --signal=%s intelgraph-ingest", signal_name
        )

    def unit_started(self, host: str, unit: str) -> str:
        """systemd's ActiveEnterTimestamp of a unit: changes whenever the unit (re)starts (to
        the second); '' until it first starts (`systemctl show` leaves it out then)."""
        return self.host(host).service(unit).systemd_properties.get("ActiveEnterTimestamp", "")

    def unit_starts(self, host: str, unit: str, since: float) -> int:
        """How many times systemd started a unit on host since `since` (a time.time()), by its journal."""
        journal = self.host(host).run(f"journalctl --no-pager -o cat -u {unit} --since @{int(since)}").stdout
        return sum(1 for line in journal.splitlines() if line.startswith(f"Started {unit}.service"))

    # --- the state store on the fleet (intelgraph_state_dir on the first tools host) ----------

    def store_files(self) -> dict[str, str]:
        """Every file in the state store, by its path there, with its SHA-256 ({} when there is no store)."""
        listing = self.host(self.groups["tools"][0]).run(
            f"cd {STATE_STORE} 2>/dev/null && find . -type f -exec sha256sum {{}} +"
        )
        return {
            path[2:]: digest for digest, path in (line.split(None, 1) for line in listing.stdout.splitlines())
        }

    def store_json(self, path: str) -> Any:
        """A JSON file of the state store (path relative to it), or None when it is not there;
        read in one command (store_read)."""
        held = self.store_read(path)[path]
        return json.loads(held["data"]) if held else None

    def store_read(self, *paths: str) -> dict[str, dict[str, Any] | None]:
        """Paths of the state store (relative to it), read on the state host in one command
        (Fleet.inspect): {path: None when it is not there, else mode, user, group, target, and
        entries or data}."""
        seen = self.inspect(self.groups["tools"][0], tuple(f"{STATE_STORE}/{path}" for path in paths))
        return {path: seen.paths[f"{STATE_STORE}/{path}"] for path in paths}

    def restore_points(self) -> list[str]:
        """The ids of the restore points in the state store (their directories; `latest` left out)."""
        found = self.store_read("restore-points")["restore-points"]
        return [name for name in (found or {}).get("entries", []) if name != "latest"]

    def run_lock(self) -> dict[str, Any] | None:
        """The run lock in the state store, or None when it is free."""
        return self.store_json("run.lock")

    # --- watching the fleet while something runs ---------------------------------------

    @contextlib.contextmanager
    def watch(self, sample: Callable[[], Any], interval: float = 0.5) -> Iterator[list[tuple[float, Any]]]:
        """Call sample() every interval seconds in the background for the duration of the
        block; yields the list of (time, value) it fills (value is the exception when
        sample() raised)."""
        samples: list[tuple[float, Any]] = []
        stop = threading.Event()

        def run() -> None:
            while not stop.is_set():
                try:
                    value: Any = sample()
                except Exception as exc:  # recorded for the test to judge
                    value = exc
                samples.append((time.time(), value))
                stop.wait(interval)

        thread = threading.Thread(target=run, name="fleet-watch", daemon=True)
        thread.start()
        try:
            yield samples
        finally:
            stop.set()
            thread.join(timeout=30)

    # --- the ingest queue ---------------------------------------------------------------

    INGEST_STREAM = "intelgraph:ingest"
    INGEST_GROUP = "ingest-workers"
    INGEST_DLQ = "intelgraph:ingest:dlq"

    def ingest_group(self) -> dict[str, Any]:
        """XINFO GROUPS entry of the ingest workers' group (pending, lag, consumers, ...)."""
        groups = self.redis().xinfo_groups(self.INGEST_STREAM)
        return next(g for g in groups if g["name"] == self.INGEST_GROUP)

    def wait_ingest_settled(self, timeout: float = 300) -> dict[str, Any]:
        """Wait until the ingest group has nothing pending and nothing undelivered (poison
        events are dead-lettered after their retries, which takes a minute or more)."""
        deadline = time.monotonic() + timeout
        while True:
            group = self.ingest_group()
            if group["pending"] == 0 and group["lag"] == 0:
                return group
            if time.monotonic() > deadline:
                raise AssertionError(f"ingest queue not settled after {timeout}s: {group}")
            time.sleep(2)

    @property
    def traffic_ingest_path(self) -> Path:
        """The events the traffic generator added to the stream: `<event_id> <tenant> <poison>`."""
        return self.traffic_stats_path.with_suffix(".ingest")

    def traffic_ingest_events(self) -> dict[str, bool]:
        """{event_id: poison} of the events the last traffic run produced."""
        events = {}
        for line in self.traffic_ingest_path.read_text().splitlines():
            event_id, _tenant, poison = line.split()
            events[event_id] = poison == "1"
        return events

    def ingest_outcomes(self, event_ids: list[str]) -> tuple[dict[str, int], dict[str, int]]:
        """({event_id: rows in ingest_events}, {event_id: entries in the DLQ}) of the given events."""
        with self.pg() as conn:
            rows = conn.execute(
                "SELECT event_id, count(*) FROM ingest_events WHERE event_id = ANY(%s) GROUP BY event_id",
                (event_ids,),
            ).fetchall()
        applied = {event_id: count for event_id, count in rows}
        wanted = set(event_ids)
        dead: dict[str, int] = {}
        for _id, fields in self.redis().xrange(self.INGEST_DLQ, "-", "+"):
            if fields.get("event_id") in wanted:
                dead[fields["event_id"]] = dead.get(fields["event_id"], 0) + 1
        return applied, dead


def inputs_key(root: Path, inputs: list[str], name: str) -> str:
    """A hash of `name` and of every file under the `inputs` (paths relative to `root`, files
    or directories; caches left out), their paths and their bytes."""
    digest = hashlib.sha256(name.encode() + b"\0")
    for top in inputs:
        base = root / top
        paths = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in paths:
            if "__pycache__" in path.parts:
                continue
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def install_collection(into: Path) -> Path:
    """Build the collection from the checkout (`ansible-galaxy collection build`, as `make build`:
    galaxy.yml's build_ignore leaves out the sandbox, inventories, ansible.cfg...) into into,
    and install the tarball into an empty collections path, into/collections, without its
    dependencies (the `ansible` package of the virtualenv has them); return that path. The
    install runs from into, with none of the caller's ANSIBLE_* settings: the checkout's
    ansible.cfg would show it the checkout's own collection as installed already."""
    built = subprocess.run(
        [str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(into)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (tarball,) = into.glob("intelgraph-ops-*.tar.gz")
    collections = into / "collections"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    cmd = [
        str(BIN / "ansible-galaxy"),
        "collection",
        "install",
        "--no-deps",
        "-p",
        str(collections),
        str(tarball),
    ]
    installed = subprocess.run(
        cmd,
        cwd=into,
        env={**env, "ANSIBLE_COLLECTIONS_PATH": str(collections)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (collections / "ansible_collections/intelgraph/ops/MANIFEST.json").is_file(), installed.stdout
    return collections


def tree(root: Path) -> dict[str, str]:
    """Every path under root (root itself left out), relative to it: a directory as `dir`, a
    symbolic link as `-> <target>`, a file as the SHA-256 of its bytes."""
    found = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_symlink():
            found[name] = f"-> {os.readlink(path)}"
        elif path.is_dir():
            found[name] = "dir"
        else:
            found[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def http_get(url: str, headers: dict[str, str] | None, timeout: float, raw: bool = False) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, body = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read().decode()
    if raw:
        return status, body
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


if __name__ == "__main__":
    # `python tests/e2e/sandbox.py fresh`: start fleet INTELGRAPH_SANDBOX_ID anew from its images
    # (made first when missing), as the end-to-end tests do; Molecule's create step runs it. The
    # playbooks run with the project's settings alone, not with those of the caller (Molecule's).
    if sys.argv[1:] != ["fresh"]:
        sys.exit("usage: tests/e2e/sandbox.py fresh")
    for name in [name for name in os.environ if name.startswith(("ANSIBLE_", "MOLECULE_"))]:
        del os.environ[name]
    fleet = Fleet()
    print(f"{fleet.name} started from its images {fleet.fresh()}")
