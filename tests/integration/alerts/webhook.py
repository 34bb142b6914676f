"""A webhook receiver for Alertmanager's notifications: a real HTTP server on loopback that
keeps every POSTed payload (Alertmanager's webhook JSON, version 4) per path."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, slots=True)
class Notification:
    path: str
    received_at: float
    payload: dict[str, Any]

    @property
    def receiver(self) -> str:
        return str(self.payload.get("receiver", ""))

    def alerts(self) -> Iterator[dict[str, Any]]:
        yield from self.payload.get("alerts", [])


class WebhookReceiver:
    def __init__(self, port: int) -> None:
        self._lock = threading.Lock()
        self._got: list[Notification] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver._got.append(Notification(self.path, time.time(), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = port
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def notifications(self, path: str) -> list[Notification]:
        with self._lock:
            return [n for n in self._got if n.path == path]

    def wait_for_alert(
        self, path: str, match: Callable[[dict[str, Any]], bool], timeout_s: float
    ) -> tuple[Notification, dict[str, Any]] | None:
        """The first notification on ``path`` carrying an alert that ``match``es, or None."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for note in self.notifications(path):
                for alert in note.alerts():
                    if match(alert):
                        return note, alert
            time.sleep(1.0)
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
