"""A real HTTP server on 127.0.0.1 serving files from a temporary folder, with Range support.

``server.cut[path] = n`` makes the next request for ``path`` send its full headers but only
``n`` body bytes before closing the connection (an interrupted transfer). Every request is
recorded with the Range header it carried and the number of body bytes sent (recorded just
before they are written).
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest


@dataclass
class Served:
    path: str
    range: str | None
    status: int
    sent: int


@dataclass
class FileServer:
    root: Path
    port: int = 0
    ranges: bool = True
    cut: dict[str, int] = field(default_factory=dict)
    log: list[Served] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def put(self, relpath: str, data: bytes) -> Path:
        """Write a file the server will serve at ``/<relpath>``."""
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def sent(self, path: str) -> int:
        """Body bytes sent so far for ``/<path>`` over all requests."""
        return sum(s.sent for s in self.log if s.path == "/" + path)

    def requests(self, path: str) -> list[Served]:
        return [s for s in self.log if s.path == "/" + path]


def _handler(server: FileServer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep pytest output quiet
            pass

        def _record(self, status: int, sent: int) -> None:
            with server.lock:
                server.log.append(Served(self.path, self.headers.get("Range"), status, sent))

        def do_GET(self) -> None:
            rel = unquote(urlparse(self.path).path).lstrip("/")
            path = server.root / rel
            if not rel or not path.is_file():
                self._record(404, 0)
                self.send_error(404)
                return
            data = path.read_bytes()
            total = len(data)
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
            if server.ranges and match:
                start = int(match.group(1))
                if start >= total:
                    self._record(416, 0)
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{total}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with server.lock:
                cut = server.cut.pop("/" + rel, None)
            if cut is not None:
                body = body[:cut]
            # Recorded before writing, so the client never sees data the log does not show yet.
            self._record(206 if start else 200, len(body))
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True

    return Handler


@contextlib.contextmanager
def serve(root: Path) -> Iterator[FileServer]:
    """A :class:`FileServer` on 127.0.0.1 (random port) serving ``root`` while in the block."""
    server = FileServer(root=root)
    server.root.mkdir(parents=True, exist_ok=True)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def file_server(tmp_path):
    """A :class:`FileServer` on 127.0.0.1 (random port), serving ``tmp_path / "www"``."""
    with serve(tmp_path / "www") as server:
        yield server


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
