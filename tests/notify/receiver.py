"""A real webhook receiver on 127.0.0.1 for delivery tests: it can be down, come up, and fail."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from tests.support.live import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def bundle(self) -> dict[str, Any]:
        doc: dict[str, Any] = orjson.loads(self.body)
        return doc

    @property
    def event_id(self) -> str:
        return self.headers["x-event-id"]

    @property
    def kind(self) -> str:
        params = self.bundle["entry"][0]["resource"]["parameter"]
        return str(next(p["valueCode"] for p in params if p["name"] == "type"))

    @property
    def event_number(self) -> int | None:
        for p in self.bundle["entry"][0]["resource"]["parameter"]:
            if p["name"] == "notification-event":
                return int(next(x["valueString"] for x in p["part"] if x["name"] == "event-number"))
        return None


@dataclass
class Receiver:
    """Records every POST; answers ``status`` (200 unless told otherwise)."""

    port: int = field(default_factory=free_port)
    status: int = 200
    got: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status = receiver.status
                if status < 300:
                    with receiver.arrived:
                        receiver.got.append(
                            Received({k.lower(): v for k, v in self.headers.items()}, body)
                        )
                        receiver.arrived.notify_all()
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = 20.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.got) >= count, timeout=timeout)
