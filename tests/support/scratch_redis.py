"""Scratch Redis servers on loopback for tests: started from a directory (and an RDB file in it,
if any), stopped by their pid. Needs the redis-server binary (`make deps` installs it)."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis

REDIS_SERVER = shutil.which("redis-server")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def scratch_redis(
    workdir: Path,
    *args: str,
    dbfilename: str = "dump.rdb",
    password: str | None = None,
    port: int | None = None,
) -> Iterator[redis.Redis]:
    """redis-server on 127.0.0.1 with its data in workdir (loading workdir/dbfilename when it
    exists), further settings in args (e.g. "--appendonly", "yes"); stopped at the end."""
    if REDIS_SERVER is None:
        raise RuntimeError("redis-server is not installed: run 'make deps'")
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    cmd = [
        REDIS_SERVER,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(workdir),
        "--dbfilename", dbfilename,
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--logfile", str(workdir / "redis.log"),
    ]  # fmt: skip
    if password:
        cmd += ["--requirepass", password, "--masterauth", password]
    process = subprocess.Popen([*cmd, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(
        host="127.0.0.1", port=port, password=password, decode_responses=True, socket_timeout=5
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if client.ping() and not int(client.info("persistence").get("loading", 0)):
                    break
            except redis.RedisError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log = (workdir / "redis.log").read_text() if (workdir / "redis.log").exists() else ""
                raise RuntimeError(f"scratch redis-server on port {port} did not start: {log[-2000:]}")
            time.sleep(0.05)
        yield client
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
