"""A scripted HTTP server on 127.0.0.1 for tests: it answers from a list and records every request."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# No reply waits longer than this, whatever a test asks: a broken test cannot hang the suite.
MAX_DELAY_SECONDS = 5.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Reply:
    """One answer. `truncate_to` sends only that many body bytes under the full Content-Length,
    then closes the connection; `delay` waits before answering (to make a client time out)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate_to: int | None = None


Responder = Callable[[Request], Reply]


class Script:
    """Answers requests with `replies` in order; any request beyond them gets a 599."""

    def __init__(self, replies: Sequence[Reply]) -> None:
        self.replies = list(replies)
        self._lock = threading.Lock()
        self._next = 0

    def __call__(self, request: Request) -> Reply:
        with self._lock:
            index = self._next
            self._next += 1
        if index < len(self.replies):
            return self.replies[index]
        return Reply(599, b"unexpected extra request")


class LocalServer:
    """A running server; `requests` lists what it received, in order."""

    def __init__(self, respond: Responder) -> None:
        self.respond = respond
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        # A short poll keeps `shutdown()` (and so each test) fast.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()  # releases handlers still sleeping in a `delay`
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=MAX_DELAY_SECONDS)


def _handler_for(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                self.command, self.path, dict(self.headers.items()), self.rfile.read(length)
            )
            server.requests.append(request)
            reply = server.respond(request)
            if reply.delay:
                server.stopping.wait(min(reply.delay, MAX_DELAY_SECONDS))
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                if reply.truncate_to is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                if reply.truncate_to is None:
                    self.wfile.write(reply.body)
                else:
                    self.wfile.write(reply.body[: reply.truncate_to])
                    self.wfile.flush()
                    self.close_connection = True
            except OSError:
                pass  # the client gave up (timed out) first; that is what some tests want

        do_GET = _handle
        do_POST = _handle

    return Handler


@contextmanager
def serve(respond: Responder | Sequence[Reply]) -> Iterator[LocalServer]:
    """Run a server on a free 127.0.0.1 port for the block; a list of replies becomes a `Script`."""
    server = LocalServer(respond if callable(respond) else Script(respond))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def unused_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released), for "connection refused"."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
