"""A real HTTP receiver of webhooks, as another system would write one: it checks every message
with the `standardwebhooks` package (signature and timestamp within its 5-minute window),
parses it as a CloudEvent with the `cloudevents` package, and drops a second copy of a
message id it has already accepted."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cloudevents.core.bindings.http import HTTPMessage, from_structured_event
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.workers import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    event: Any


@dataclass
class Receiver:
    port: int
    secret: str = ""
    # Status codes to answer with, in turn, before accepting (e.g. [500, 500]).
    failures: list[int] = field(default_factory=list)
    accepted: list[Received] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    duplicates: int = 0
    # Where a 3xx answer points (a sender that followed it would reach this address).
    redirect_to: str = ""
    requests: int = 0
    # Set to hold the answer of the next request until released (a worker dies meanwhile).
    hold: threading.Event | None = None
    arrived: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        self.requests += 1
        self.arrived.set()
        if self.hold is not None:
            self.hold.wait(30)
        try:
            Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError as refused:
            self.rejected.append(str(refused))
            return 400
        if self.failures:
            return self.failures.pop(0)
        if any(r.headers["webhook-id"] == headers["webhook-id"] for r in self.accepted):
            self.duplicates += 1
            return 200
        message = HTTPMessage(headers={"content-type": headers["content-type"]}, body=body)
        self.accepted.append(Received(headers, body, from_structured_event(message)))
        return 204


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = receiver.handle(headers, body)
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("location", receiver.redirect_to)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", receiver.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        if receiver.hold is not None:
            receiver.hold.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
