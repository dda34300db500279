"""A local HTTP(S) server for the attachment tests: real sockets on 127.0.0.1, a route per behaviour.

Routes: /page.html, /notes.md (served as octet-stream), /report.pdf, /big (a body over any small
limit, no Content-Length), /declared-big (a Content-Length over the limit), /slow (a byte a second),
/missing (404), /to-page (302 to /page.html), /loop (302 to itself), /to-file (302 to file://),
/gzip (a gzip-encoded body). Each request's path and Host header are recorded.
"""

from __future__ import annotations

import gzip
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

from pdf_fixture import make_pdf

HTML = b"<html><head><title>T</title><script>alert(1)</script></head><body><p>Served page.</p></body></html>"
SLOW_SECONDS = 4  # bounded: the slow route ends by itself


class AttachmentServer:
    """Serves the routes on 127.0.0.1 in a thread; use as a context manager."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[tuple[str, str]] = []  # (path, Host header)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append((self.path, self.headers.get("Host", "")))
                server.route(self)

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        if tls:
            self._http.socket = tls.wrap_socket(self._http.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self._http.handle_error = lambda request, address: None  # type: ignore[method-assign]  # a client gone mid-body
        self.port = self._http.server_address[1]
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def __enter__(self) -> AttachmentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()

    def route(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path
        if path == "/page.html":
            self._send(h, 200, HTML, "text/html; charset=utf-8")
        elif path == "/notes.md":
            self._send(h, 200, b"# Notes\n\nThe *plan* is ready.", "application/octet-stream")
        elif path == "/report.pdf":
            self._send(h, 200, make_pdf(["Quarterly sales rose 4%"]), "application/pdf")
        elif path == "/big":
            h.send_response(200)
            h.send_header("Content-Type", "text/plain")
            h.end_headers()
            for _ in range(64):
                h.wfile.write(b"x" * 1024)
        elif path == "/declared-big":
            h.send_response(200)
            h.send_header("Content-Length", str(1 << 30))
            h.end_headers()
            h.wfile.write(b"x" * 10)
        elif path == "/slow":
            h.send_response(200)
            h.send_header("Content-Type", "text/plain")
            h.end_headers()
            for _ in _seconds(SLOW_SECONDS):
                h.wfile.write(b".")
                h.wfile.flush()
        elif path == "/missing":
            self._send(h, 404, b"no such thing", "text/plain")
        elif path in ("/to-page", "/loop", "/to-file"):
            target = {"/to-page": "/page.html", "/loop": "/loop", "/to-file": "file:///etc/passwd"}[path]
            h.send_response(302)
            h.send_header("Location", target)
            h.send_header("Content-Length", "0")
            h.end_headers()
        elif path == "/gzip":
            body = gzip.compress(b"z" * 100_000)
            h.send_response(200)
            h.send_header("Content-Encoding", "gzip")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        else:
            self._send(h, 404, b"unknown route", "text/plain")

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


def _seconds(count: int) -> Iterator[int]:
    for n in range(count):
        time.sleep(1)
        yield n
