"""intelgraph.ops.service_info: the release a service reports, its release link, its files'
mode, ownership and checksum, and its settings' text, read in one run; on a real HTTP server on
loopback and real files. What it says must be what ansible.builtin.uri, stat and slurp said,
since the pre-check's plan and the restore point quote it (checked side by side through
ansible-playbook)."""

from __future__ import annotations

import base64
import grp
import hashlib
import json
import os
import pwd
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._service_info import (
    ExamineError,
    checksummed,
    examine,
    link_target,
    read_text,
    version_answer,
)
from conftest import run_module, run_tasks, serve_http

# path -> (status, content type, body) the test server answers.
ANSWERS: dict[str, tuple[int, str, bytes]] = {
    "/version": (200, "application/json", b'{"version": "24.0.0", "host": "api1"}\n'),
    "/draining/version": (503, "application/json", b'{"ready": false}'),
    "/text/version": (200, "text/plain", b"24.0.0"),
    "/list/version": (200, "application/json", b'["24.0.0"]'),
    "/none/version": (200, "application/json", b'{"host": "api1"}'),
}


def answer(path: str) -> tuple[int, str, bytes] | None:
    """ANSWERS; /slow/version answers after 3 s; /hangup/version closes the connection unanswered."""
    if path == "/hangup/version":
        return None
    if path == "/slow/version":
        time.sleep(3)
        path = "/version"
    return ANSWERS.get(path, (404, "application/json", b'{"error": "not found"}'))


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    """The service on loopback."""
    yield from serve_http(answer)


@pytest.fixture(scope="module")
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def host(tmp_path: Path) -> dict[str, Path]:
    """A service host's files as the intelgraph_service role lays them out, in a scratch root."""
    releases = tmp_path / "opt/intelgraph/releases/24.0.0"
    releases.mkdir(parents=True)
    (tmp_path / "opt/intelgraph/current").symlink_to(releases)
    config = tmp_path / "etc/intelgraph"
    config.mkdir(parents=True)
    env = config / "api.env"
    env.write_text("RPS_LIMIT=50\nRPS_BURST=100\n  TRACE_SAMPLING_RATIO=0.1  \n")
    env.chmod(0o640)
    secrets = config / "secrets.env"
    secrets.write_text("DATABASE_URL=postgresql://intelgraph:s3cr3t-pw@db1/intelgraph\n")
    secrets.chmod(0o600)
    return {"root": tmp_path, "current": tmp_path / "opt/intelgraph/current", "env": env, "secrets": secrets}


# --- the /version answer -----------------------------------------------------------------


def test_a_service_that_answers_gives_its_version(service: str) -> None:
    body = ANSWERS["/version"][2]
    assert version_answer(f"{service}/version", 5) == {
        "url": f"{service}/version",
        "status": 200,
        "msg": f"OK ({len(body)} bytes)",
        "version": "24.0.0",
    }


@pytest.mark.parametrize("path", ["/text/version", "/list/version", "/none/version"])
def test_an_answer_without_a_version_gives_none(service: str, path: str) -> None:
    answer = version_answer(f"{service}{path}", 5)
    assert (answer["status"], answer["version"]) == (200, None)
    assert answer["msg"].startswith("OK (")


def test_an_error_status_is_said_as_uri_says_it(service: str) -> None:
    answer = version_answer(f"{service}/draining/version", 5)
    assert answer["status"] == 503 and answer["version"] is None
    assert answer["msg"] == "Status code was 503 and not [200]: HTTP Error 503: Service Unavailable"


def test_a_service_that_is_not_there_is_no_failure(closed_port: int) -> None:
    answer = version_answer(f"http://127.0.0.1:{closed_port}/version", 5)
    assert answer["status"] == -1 and answer["version"] is None
    assert answer["msg"].startswith("Status code was -1 and not [200]: Request failed: <urlopen error ")
    assert "Connection refused" in answer["msg"]


def test_a_service_that_hangs_up_is_no_failure(service: str) -> None:
    answer = version_answer(f"{service}/hangup/version", 5)
    assert answer["status"] == -1 and answer["version"] is None
    assert answer["msg"].startswith("Status code was -1 and not [200]: Connection failure: ")


def test_a_slow_service_is_waited_for_no_longer_than_the_timeout(service: str) -> None:
    started = time.monotonic()
    answer = version_answer(f"{service}/slow/version", 0.5)
    assert time.monotonic() - started < 2.5
    assert answer["status"] == -1 and answer["version"] is None
    assert "timed out" in answer["msg"]


def test_a_password_in_the_url_is_not_shown(closed_port: int) -> None:
    answer = version_answer(f"http://ops:s3cr3t@127.0.0.1:{closed_port}/version", 5)
    assert answer["url"] == f"http://***@127.0.0.1:{closed_port}/version"
    assert "s3cr3t" not in json.dumps(answer)


# --- links and files -----------------------------------------------------------------------


def test_the_link_target_is_read_as_written(host: dict[str, Path]) -> None:
    assert link_target(str(host["current"])) == {
        "path": str(host["current"]),
        "exists": True,
        "target": str(host["root"] / "opt/intelgraph/releases/24.0.0"),
    }


@pytest.mark.parametrize(
    ("name", "exists"), [("opt/intelgraph/releases", True), ("opt/intelgraph/none", False)]
)
def test_a_path_that_is_not_a_link_has_no_target(host: dict[str, Path], name: str, exists: bool) -> None:
    path = str(host["root"] / name)
    assert link_target(path) == {"path": path, "exists": exists, "target": None}


def test_a_file_is_stated_as_stat_says_it(host: dict[str, Path]) -> None:
    env = host["env"]
    me = os.stat(env)
    assert examine(str(env), checksum=True) == {
        "path": str(env),
        "exists": True,
        "mode": "0640",
        "owner": pwd.getpwuid(me.st_uid).pw_name,
        "group": grp.getgrgid(me.st_gid).gr_name,
        "checksum": hashlib.sha256(env.read_bytes()).hexdigest(),
    }


def test_a_file_not_asked_for_its_checksum_is_only_stated(host: dict[str, Path]) -> None:
    info = examine(str(host["secrets"]))
    assert set(info) == {"path", "exists", "mode", "owner", "group"}
    assert info["mode"] == "0600"


def test_a_missing_file_exists_not(host: dict[str, Path]) -> None:
    path = str(host["root"] / "etc/intelgraph/ingest.env")
    assert examine(path, checksum=True) == {
        "path": path,
        "exists": False,
        "mode": None,
        "owner": None,
        "group": None,
        "checksum": None,
    }


def test_a_link_is_stated_itself_and_has_no_checksum(host: dict[str, Path]) -> None:
    info = examine(str(host["current"]), checksum=True)
    assert info["exists"] and info["checksum"] is None and info["mode"] == "0777"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to an id without a name takes root")
def test_an_owner_without_a_name_is_none(host: dict[str, Path]) -> None:
    os.chown(host["env"], 54321, 54321)
    info = examine(str(host["env"]))
    assert (info["owner"], info["group"]) == (None, None)


def test_a_path_through_a_file_cannot_be_examined(host: dict[str, Path]) -> None:
    path = str(host["env"] / "nested")
    with pytest.raises(ExamineError, match=rf"^{path} cannot be examined \(Not a directory\)$"):
        examine(path)


def test_a_path_listed_twice_is_stated_once_with_its_checksum_if_either_asks() -> None:
    files = [{"path": "/a", "checksum": False}, {"path": "/b"}, {"path": "/a", "checksum": True}]
    assert checksummed(files) == {"/a": True, "/b": False}


# --- the settings' text --------------------------------------------------------------------


def test_the_settings_text_is_read(host: dict[str, Path]) -> None:
    assert read_text(str(host["env"])) == {
        "path": str(host["env"]),
        "content": host["env"].read_text(),
        "b64": base64.b64encode(host["env"].read_bytes()).decode(),
        "msg": None,
    }


@pytest.mark.parametrize(
    ("name", "msg"),
    [
        ("etc/intelgraph/ingest.env", "File not found: {path}"),
        ("etc/intelgraph", "Source is a directory and must be a file: {path}"),
    ],
)
def test_settings_that_cannot_be_read_say_why_as_slurp_does(
    host: dict[str, Path], name: str, msg: str
) -> None:
    path = str(host["root"] / name)
    assert read_text(path) == {"path": path, "content": None, "b64": None, "msg": msg.format(path=path)}


def test_bytes_that_are_not_utf8_are_replaced(tmp_path: Path) -> None:
    path = tmp_path / "api.env"
    path.write_bytes(b"NAME=caf\xe9\n")
    assert read_text(str(path))["content"] == "NAME=caf\ufffd\n"
    assert base64.b64decode(read_text(str(path))["b64"]) == b"NAME=caf\xe9\n"  # a copy keeps the bytes


# --- the module ----------------------------------------------------------------------------


def module_args(service: str, host: dict[str, Path]) -> dict[str, Any]:
    return {
        "url": f"{service}/version",
        "timeout": 5,
        "link": str(host["current"]),
        "files": [{"path": str(host["env"]), "checksum": True}, {"path": str(host["secrets"])}],
        "settings_file": str(host["env"]),
    }


@pytest.mark.parametrize("check", [False, True], ids=["run", "check mode"])
def test_the_module_reads_everything_in_one_run_and_changes_nothing(
    service: str, host: dict[str, Path], check: bool
) -> None:
    before = {
        p: (os.lstat(p).st_mtime_ns, os.lstat(p).st_mode)
        for p in (host["env"], host["secrets"], host["current"])
    }
    result = run_module("service_info", module_args(service, host), check=check)
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["service"]["version"] == "24.0.0"
    assert result["link"]["target"] == str(host["root"] / "opt/intelgraph/releases/24.0.0")
    assert (
        result["files"][str(host["env"])]["checksum"] == hashlib.sha256(host["env"].read_bytes()).hexdigest()
    )
    assert result["files"][str(host["secrets"])]["mode"] == "0600"
    assert result["settings"]["content"] == host["env"].read_text()
    after = {p: (os.lstat(p).st_mtime_ns, os.lstat(p).st_mode) for p in before}
    assert after == before


def test_the_secrets_are_never_read(service: str, host: dict[str, Path]) -> None:
    result = run_module("service_info", module_args(service, host))
    assert set(result["files"][str(host["secrets"])]) == {"path", "exists", "mode", "owner", "group"}
    assert "s3cr3t" not in json.dumps(result)
    secret_digest = hashlib.sha256(host["secrets"].read_bytes()).hexdigest()
    assert secret_digest not in json.dumps(result)


def test_the_module_names_a_file_it_cannot_examine(service: str, host: dict[str, Path]) -> None:
    path = str(host["env"] / "nested")
    result = run_module("service_info", {"url": f"{service}/version", "files": [{"path": path}]})
    assert result["failed"]
    assert result["msg"].startswith(f"{path} cannot be examined (Not a directory): run the module as a user")


@pytest.mark.parametrize("timeout", [0, -1])
def test_a_timeout_that_does_not_bound_the_wait_is_refused(service: str, timeout: int) -> None:
    result = run_module("service_info", {"url": f"{service}/version", "timeout": timeout})
    assert result["failed"]
    assert result["msg"].startswith(f"Bad timeout: timeout={float(timeout)}: must be more than 0 seconds")


# --- side by side with uri, stat and slurp --------------------------------------------------


def test_what_it_says_is_what_uri_stat_and_slurp_said(
    service: str, closed_port: int, host: dict[str, Path], tmp_path: Path
) -> None:
    urls = {
        "answers": f"{service}/version",
        "draining": f"{service}/draining/version",
        "not-json": f"{service}/text/version",
        "no-version": f"{service}/none/version",
        "refused": f"http://127.0.0.1:{closed_port}/version",
        "hangs-up": f"{service}/hangup/version",
    }
    missing = str(host["root"] / "etc/intelgraph/ingest.env")
    files = [str(host["env"]), str(host["secrets"]), missing, str(host["current"])]
    tasks: list[dict[str, Any]] = []
    for name, url in urls.items():
        tasks.append(
            {"name": f"uri {name}", "ansible.builtin.uri": {"url": url, "timeout": 5}, "failed_when": False}
        )
        tasks.append({"name": f"info {name}", "intelgraph.ops.service_info": {"url": url, "timeout": 5}})
    for index, path in enumerate(files):
        tasks.append(
            {
                "name": f"stat {index}",
                "ansible.builtin.stat": {"path": path, "checksum_algorithm": "sha256"},
            }
        )
    tasks.append(
        {
            "name": "info files",
            "intelgraph.ops.service_info": {
                "link": str(host["current"]),
                "files": [{"path": path, "checksum": True} for path in files],
            },
        }
    )
    # Every file read as the settings but the secrets, which are only ever stat'ed.
    readable = [path for path in files if path != str(host["secrets"])]
    for index, path in enumerate(readable):
        tasks.append({"name": f"slurp {index}", "ansible.builtin.slurp": {"src": path}, "failed_when": False})
        tasks.append(
            {"name": f"info settings {index}", "intelgraph.ops.service_info": {"settings_file": path}}
        )
    results = run_tasks(tasks, tmp_path)

    for name in urls:
        uri, info = results[f"uri {name}"], results[f"info {name}"]["service"]
        assert (info["status"], info["msg"]) == (uri["status"], uri["msg"]), name
        expected = uri.get("json", {}).get("version") if uri["status"] == 200 else None
        assert info["version"] == expected, name

    stated = results["info files"]["files"]
    for index, path in enumerate(files):
        stat, info = results[f"stat {index}"]["stat"], stated[path]
        assert info == {
            "path": path,
            "exists": stat["exists"],
            "mode": stat.get("mode"),
            "owner": stat.get("pw_name"),
            "group": stat.get("gr_name"),
            "checksum": stat.get("checksum"),
        }, path
    for index, path in enumerate(readable):
        slurp, settings = results[f"slurp {index}"], results[f"info settings {index}"]["settings"]
        if "content" in slurp:
            assert settings == {
                "path": path,
                "content": base64.b64decode(slurp["content"]).decode(),
                "b64": slurp["content"],
                "msg": None,
            }
        else:
            assert settings == {"path": path, "content": None, "b64": None, "msg": slurp["msg"]}, path
    link = results["info files"]["link"]
    assert link["target"] == results["stat 3"]["stat"]["lnk_target"]
