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


# Settings for running modules in unit tests: the project's collections, none of its
# callbacks (their output would mix with the json callback's).
MODULE_TEST_CFG = Path(__file__).with_name("ansible-module-tests.cfg")


def run_module(name: str, args: dict, check: bool = False) -> dict:
    """Run one of the collection's modules on localhost through ansible itself and return its
    result (as the json callback reports it)."""
    import json
    import os
    import subprocess

    bin_dir = Path(sys.executable).parent
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(MODULE_TEST_CFG),
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    cmd = [
        str(bin_dir / "ansible"),
        "localhost",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-m",
        f"intelgraph.ops.{name}",
        "-a",
        json.dumps(args),
        "-e",
        f"ansible_python_interpreter={sys.executable}",
    ]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    try:
        report = json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(f"no JSON from ansible: {proc.stdout}\n{proc.stderr}") from exc
    return report["plays"][0]["tasks"][0]["hosts"]["localhost"]


def serve_prometheus(answer: Callable[[str], tuple[int, dict]]) -> Iterator[str]:
    """Serve the Prometheus HTTP query API on loopback, answering each `query` parameter with
    `answer(query)` (status, JSON body); yields the server's base URL until the caller is done.
    The test modules wrap it in a fixture of their own answers."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlsplit

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = answer(parse_qs(urlsplit(self.path).query)["query"][0])
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
