"""A real HTTP server on loopback that answers from a script, so the SDK's
retries, headers and error mapping are tested over actual sockets."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    """Sent as is instead of `body` as JSON (an HTML error page, say)."""


DROP = Reply(status=0)
"""Close the connection without answering: a network error for the client."""


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class ScriptedServer:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self._script: list[Reply] = []
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def script(self, *replies: Reply) -> None:
        """The answers to the next requests, in order; the last one repeats."""
        with self._lock:
            self._script = list(replies)
            self.received.clear()

    def _next(self) -> Reply:
        with self._lock:
            if len(self._script) > 1:
                return self._script.pop(0)
            return self._script[0] if self._script else Reply()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                server.received.append(
                    Received(
                        method=self.command,
                        path=parts.path,
                        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=json.loads(raw) if raw else None,
                    )
                )
                reply = server._next()
                if reply.status == 0:
                    self.close_connection = True
                    return
                payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                content_type = "text/html" if reply.raw is not None else "application/json"
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def do_PATCH(self) -> None:
                self._handle()

            def do_DELETE(self) -> None:
                self._handle()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)


@pytest.fixture(scope="session")
def http_server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


@pytest.fixture
def server(http_server: ScriptedServer) -> ScriptedServer:
    http_server.script()
    return http_server


def status_body(code: int, reason: str, message: str, fields: Sequence[str] = ()) -> dict[str, Any]:
    """A `google.rpc.Status` as the gateway sends it."""
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "billingos.dev",
        }
    ]
    if fields:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "field_violations": [{"field": f, "description": "is wrong"} for f in fields],
            }
        )
    return {"code": code, "message": message, "details": details}
