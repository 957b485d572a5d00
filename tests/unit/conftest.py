"""Make the checkout importable as ansible_collections.intelgraph.ops."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = ROOT / ".collections/ansible_collections/intelgraph/ops"

if not LINK.exists():
    LINK.parent.mkdir(parents=True, exist_ok=True)
    LINK.symlink_to("../../..")
sys.path.insert(0, str(ROOT / ".collections"))
sys.path.insert(0, str(ROOT / "tests/support"))

from process_tree import kill_tree  # noqa: E402

# Settings for running modules in unit tests: the project's collections, none of its
# callbacks (their output would mix with the json callback's).
MODULE_TEST_CFG = Path(__file__).with_name("ansible-module-tests.cfg")


class _ForkServer:
    """One tests/unit/ansible_forkserver.py process, serving the runs of one set of ANSIBLE_*
    settings, one run at a time."""

    def __init__(self, env: dict[str, str]) -> None:
        import atexit
        import subprocess
        import threading

        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("ansible_forkserver.py"))],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lock = threading.Lock()
        atexit.register(self.close)

    def close(self) -> None:
        """End the server (its standard input closed) and wait for it."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)

    def run(self, program: str, args: list[str], env: dict[str, str], timeout: float) -> tuple[int, str, str]:
        """The run's exit code, standard output and standard error; the run killed after
        `timeout` seconds, with every process it started (Ansible's workers start sessions of
        their own)."""
        import json
        import os
        import select
        import tempfile

        assert self.proc.stdin is not None and self.proc.stdout is not None
        with self.lock, tempfile.TemporaryDirectory() as tmp:
            out, err = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
            request = {
                "program": program,
                "args": args,
                "cwd": str(ROOT),
                "env": env,
                "stdout": out,
                "stderr": err,
            }
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            pid = json.loads(self.proc.stdout.readline())["pid"]
            if not select.select([self.proc.stdout], [], [], timeout)[0]:
                kill_tree(pid)
            rc = json.loads(self.proc.stdout.readline())["rc"]
            with open(out) as stdout, open(err) as stderr:
                return rc, stdout.read(), stderr.read()


_FORK_SERVERS: dict[tuple[tuple[str, str], ...], _ForkServer] = {}


def _ansible(program: str, *args: str) -> dict:
    """Run ansible or ansible-playbook on localhost with the collection and these settings; the
    json callback's report. The run is the program's own entry point, in a process forked from
    one that imported ansible-core already (tests/unit/ansible_forkserver.py)."""
    import json
    import os

    bin_dir = Path(sys.executable).parent
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(MODULE_TEST_CFG),
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    settings = tuple(sorted((k, v) for k, v in env.items() if k.startswith("ANSIBLE_")))
    if settings not in _FORK_SERVERS:
        _FORK_SERVERS[settings] = _ForkServer(env)
    cmd = [*args, "-e", f"ansible_python_interpreter={sys.executable}"]
    rc, stdout, stderr = _FORK_SERVERS[settings].run(program, cmd, env, timeout=300)
    try:
        return json.loads(stdout)
    except ValueError as exc:
        raise AssertionError(f"no JSON from {program} (exit code {rc}): {stdout}\n{stderr}") from exc


def run_module(name: str, args: dict, check: bool = False) -> dict:
    """Run one of the collection's modules on localhost through ansible itself and return its
    result (as the json callback reports it)."""
    import json

    cmd = [
        "localhost",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-m",
        f"intelgraph.ops.{name}",
        "-a",
        json.dumps(args),
    ]
    report = _ansible("ansible", *cmd, *(["--check"] if check else []))
    return report["plays"][0]["tasks"][0]["hosts"]["localhost"]


def run_tasks(tasks: list[dict], workdir: Path) -> dict[str, dict]:
    """Run these tasks in one play on localhost (one ansible-playbook, its playbook written in
    workdir); each task's result by the task's name."""
    import json

    playbook = workdir / "tasks.yml"
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    report = _ansible("ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook))
    return {task["task"]["name"]: task["hosts"]["localhost"] for task in report["plays"][0]["tasks"]}


def serve_http(
    answer: Callable[[str], tuple[int, str, bytes] | None], received: list[dict] | None = None
) -> Iterator[str]:
    """Serve GET and POST on loopback, answering each request's path with `answer(path)`: its
    status, content type and body, or None to close the connection with no answer; yields the
    server's base URL until the caller is done. With `received`, each request is appended to it
    as {method, path, headers, body (bytes)}. The test modules wrap it in a fixture of their own
    answers."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if received is not None:
                received.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
            answered = answer(self.path)
            if answered is None:
                self.close_connection = True
                return
            status, content_type, payload = answered
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def serve_prometheus(answer: Callable[[str], tuple[int, dict]]) -> Iterator[str]:
    """Serve the Prometheus HTTP query API on loopback, answering each `query` parameter with
    `answer(query)` (status, JSON body); yields the server's base URL until the caller is done.
    The test modules wrap it in a fixture of their own answers."""
    import json
    from urllib.parse import parse_qs, urlsplit

    def answer_path(path: str) -> tuple[int, str, bytes]:
        status, body = answer(parse_qs(urlsplit(path).query)["query"][0])
        return status, "application/json", json.dumps(body).encode()

    yield from serve_http(answer_path)
