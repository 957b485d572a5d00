"""A webhook receiver for the end-to-end tests: an HTTP server on the controller's loopback
that records every POST (path, headers, JSON body). The maintenance window's announcements
are sent from the controller, so loopback reaches it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class WebhookReceiver:
    """What a receiver got, and where it listens."""

    url: str
    messages: list[Received] = field(default_factory=list)
    # Answer the first `fail_first` POSTs with 503, as a flaky webhook would.
    fail_first: int = 0
    attempts: int = 0

    def bodies(self) -> list[Any]:
        return [m.body for m in self.messages]


@contextmanager
def webhook_receiver(path: str = "/hooks/maintenance", fail_first: int = 0) -> Iterator[WebhookReceiver]:
    """A receiver on 127.0.0.1 (a free port) for the duration of the block."""
    lock = threading.Lock()
    receiver = WebhookReceiver(url="", fail_first=fail_first)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            with lock:
                receiver.attempts += 1
                failing = receiver.attempts <= receiver.fail_first
                if not failing:
                    try:
                        body: Any = json.loads(raw)
                    except ValueError:
                        body = raw.decode(errors="replace")
                    receiver.messages.append(Received(self.path, dict(self.headers.items()), body))
            self.send_response(503 if failing else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
