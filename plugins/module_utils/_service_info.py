# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers of the service_info module: what an API or ingest host says of its service
in one module run. The release the service reports on /version, where a link points, the mode
and ownership (and, when asked, the SHA-256) of files, and the text of the settings file.

The /version answer carries the status and the message ansible.builtin.uri gives for the same
request (``Status code was -1 and not [200]: Request failed: ...`` and the error), so that
what the roles say of a service that does not answer reads as it did with uri. Nothing here
changes anything, and nothing reads the content of a file other than the one asked for by
name (read_text): the others are only stat'ed."""

from __future__ import annotations

import base64
import errno
import grp
import http.client
import json
import os
import pwd
import stat
import time
import urllib.error
from typing import Any

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url
from ansible_collections.intelgraph.ops.plugins.module_utils._files import sha256_of
from ansible_collections.intelgraph.ops.plugins.module_utils._redact import redact_url

# The only status that counts as an answer, as uri's status_code default.
ANSWERED = 200
# How often a wait for a service to be ready asks again.
POLL_SECONDS = 0.1


class ExamineError(Exception):
    """A file or link that exists, or may, but cannot be looked at (a directory on its path
    that cannot be searched, a path through a file)."""


def version_answer(url: str, timeout: float) -> dict[str, Any]:
    """GET url: {"url", "status", "msg", "version"}. The status is -1 when no HTTP answer came;
    the version is the ``version`` of a JSON object answered with status 200, else None. Never
    raises for a service that does not answer; the message says what happened, as uri's does."""
    shown = redact_url(url)
    answer: dict[str, Any] = {"url": shown, "status": -1, "msg": "", "version": None}
    try:
        response = open_url(url, method="GET", timeout=timeout)
    except (UrlsConnectionError, ValueError) as exc:
        # uri fails with the error alone (a TLS failure, a URL that is not one).
        return dict(answer, msg=str(exc))
    except urllib.error.HTTPError as exc:
        exc.close()
        return with_status(answer, exc.code, str(exc))
    except urllib.error.URLError as exc:
        return with_status(answer, int(getattr(exc, "code", -1)), f"Request failed: {exc}")
    except OSError as exc:
        return with_status(answer, -1, f"Connection failure: {exc}")
    except http.client.BadStatusLine as exc:
        return with_status(
            answer,
            -1,
            f"Connection failure: connection was closed before a valid response was received: {exc.line}",
        )
    except http.client.HTTPException as exc:
        return with_status(answer, -1, f"An unknown error occurred: {exc}")
    with response:
        status = response.status
        try:
            body = response.read()
        except (http.client.HTTPException, OSError) as exc:
            return dict(answer, status=status, msg=f"HTTP Error while fetching {shown}: {exc}")
        answered = with_status(
            answer, status, f"OK ({response.headers.get('Content-Length', 'unknown')} bytes)"
        )
    if status == ANSWERED:
        answered["version"] = reported_version(body)
    return answered


def readiness(url: str, timeout: float, wait: float) -> dict[str, Any]:
    """The answer of url; while it is not ready, asked again every POLL_SECONDS until wait seconds
    have passed (the last time at the end of the wait)."""
    deadline = time.monotonic() + wait
    while True:
        answer = version_answer(url, timeout)
        remaining = deadline - time.monotonic()
        if answer["status"] == ANSWERED or remaining <= 0:
            return answer
        time.sleep(min(POLL_SECONDS, remaining))


def ready_on(
    url: str, version_url: str, version: str | None, timeout: float, wait: float
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Whether the service is ready on the release expected: its readiness answer (asked again while
    it is not ready, for wait seconds), its /version answer once it is ready (else {}), and what is
    wrong, "" when nothing is: the readiness or version answer's message, or the other release it
    runs (any will do when version is None)."""
    ready = readiness(url, timeout, wait)
    if ready["status"] != ANSWERED:
        return ready, {}, ready["msg"]
    service = version_answer(version_url, timeout)
    if service["status"] != ANSWERED:
        return ready, service, service["msg"]
    if version is not None and service["version"] != version:
        return (
            ready,
            service,
            f"{service['url']} answers release {service['version']}, not {version}, though it is ready.",
        )
    return ready, service, ""


def with_status(answer: dict[str, Any], status: int, msg: str) -> dict[str, Any]:
    """The answer with its status and message; a status other than 200 prefixed as uri does."""
    if status != ANSWERED:
        msg = f"Status code was {status} and not [{ANSWERED}]: {msg}"
    return dict(answer, status=status, msg=msg)


def reported_version(body: bytes) -> Any:
    """The ``version`` of a JSON object, None when the body is not one or has none."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document.get("version") if isinstance(document, dict) else None


def _lstat(path: str) -> os.stat_result | None:
    """The path's own stat (a link is not followed), None when nothing is there."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ExamineError(f"{path} cannot be examined ({exc.strerror})") from exc


def link_target(path: str) -> dict[str, Any]:
    """{"path", "exists", "target"}: where a symbolic link points, as it is written (stat's
    lnk_target); the target is None when the path is not a link or is not there."""
    st = _lstat(path)
    target = None
    if st is not None and stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(path)
        except OSError as exc:
            raise ExamineError(f"{path} cannot be read as a link ({exc.strerror})") from exc
    return {"path": path, "exists": st is not None, "target": target}


def examine(path: str, checksum: bool = False) -> dict[str, Any]:
    """{"path", "exists", "mode", "owner", "group"} of the path itself (a link is not followed),
    mode as stat gives it ('0640'), owner and group as names (None for an id with no name), and
    with checksum "checksum", the SHA-256 of a regular file that can be read (else None). All
    None but exists=False when nothing is there."""
    st = _lstat(path)
    if st is None:
        info: dict[str, Any] = {"path": path, "exists": False, "mode": None, "owner": None, "group": None}
        if checksum:
            info["checksum"] = None
        return info
    info = {
        "path": path,
        "exists": True,
        "mode": f"{stat.S_IMODE(st.st_mode):04o}",
        "owner": _name(pwd.getpwuid, st.st_uid),
        "group": _name(grp.getgrgid, st.st_gid),
    }
    if checksum:
        info["checksum"] = sha256(path) if stat.S_ISREG(st.st_mode) and os.access(path, os.R_OK) else None
    return info


def _name(lookup: Any, number: int) -> str | None:
    try:
        entry = lookup(number)
    except (KeyError, OverflowError, ValueError):
        return None
    return entry[0]


def sha256(path: str) -> str:
    """The file's SHA-256, hex."""
    try:
        return sha256_of(path)
    except OSError as exc:
        raise ExamineError(f"{path} cannot be read for its checksum ({exc.strerror})") from exc


def read_text(path: str) -> dict[str, Any]:
    """{"path", "content", "b64", "msg"}: the file's text (UTF-8; a byte that is not is replaced)
    and its exact bytes in base64, or None for both and why it cannot be read, in the words of
    ansible.builtin.slurp."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return {"path": path, "content": None, "b64": None, "msg": unreadable(path, exc)}
    content = data.decode("utf-8", errors="replace")
    return {"path": path, "content": content, "b64": base64.b64encode(data).decode("ascii"), "msg": None}


def unreadable(path: str, exc: OSError) -> str:
    """Why a file cannot be read, as slurp says it."""
    if exc.errno == errno.ENOENT:
        return f"File not found: {path}"
    if exc.errno == errno.EACCES:
        return f"File is not readable: {path}"
    if exc.errno == errno.EISDIR:
        return f"Source is a directory and must be a file: {path}"
    return f"Unable to slurp file: {path} ({exc.strerror})"


def checksummed(files: list[dict[str, Any]]) -> dict[str, bool]:
    """{path: whether its checksum is asked}, in the order given; a path listed twice has its
    checksum if either entry asks for it."""
    wanted: dict[str, bool] = {}
    for entry in files:
        wanted[entry["path"]] = wanted.get(entry["path"], False) or bool(entry.get("checksum"))
    return wanted
