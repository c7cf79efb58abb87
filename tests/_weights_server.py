"""A local stand-in for GitHub: serves ../shared/weights/official under the records' URL paths (tests only).

It honours ``Range`` (unless told to ignore it) and can misbehave on purpose, one response at a time
(:attr:`MirrorServer.faults`) or on every response (:attr:`MirrorServer.always`): send part of the body
and then close the connection, stall, or wait for the test to let it go on.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

from attnsr._pretrained import RECORDS


def github_routes(official: Path) -> dict[str, Path]:
    """URL path of each official record → its local copy (``a2n_x2.pt`` for ``…/aan_x2.pt`` and so on)."""
    routes = {}
    for record in RECORDS:
        if record.source != "official" or len(record.scales) != 1:
            continue
        local = official / f"{record.arch}_x{record.scales[0]}{Path(record.file).suffix}"
        if local.is_file():
            routes[urlparse(record.url).path] = local
    return routes


@dataclass
class Fault:
    """How one response misbehaves once ``at`` (a fraction) of its body is sent: it waits for ``gate``
    (if any), sleeps ``stall`` seconds, then closes the connection (``close``) or sends the rest."""

    at: float = 0.5
    close: bool = True
    stall: float = 0.0
    gate: threading.Event | None = None


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # a client that gave up mid-body (timeouts, tests) is expected here, not worth a traceback


class MirrorServer:
    """ThreadingHTTPServer on 127.0.0.1 (ephemeral port) with Range support; records every request."""

    def __init__(self, routes: dict[str, Path]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.mutate: Callable[[bytes], bytes] | None = None
        self.ignore_range = False  # answer every request with 200 and the whole file
        self.faults: list[Fault] = []  # the next responses' faults, first one first
        self.always: Fault | None = None  # the fault of every response once ``faults`` is used up
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                local = server.routes.get(self.path)
                if local is None:
                    self.send_error(404)
                    return
                data = local.read_bytes()
                if server.mutate is not None:
                    data = server.mutate(data)
                start = 0
                m = None if server.ignore_range else re.fullmatch(r"bytes=(\d+)-", rng or "")
                if m:
                    start = int(m.group(1))
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                try:
                    self._send_body(data[start:], server.next_fault())
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send_body(self, body: bytes, fault: Fault | None) -> None:
                if fault is None:
                    self.wfile.write(body)
                    return
                cut = int(len(body) * fault.at)
                self.wfile.write(body[:cut])
                self.wfile.flush()
                if fault.gate is not None:
                    fault.gate.wait(60)
                if fault.stall:
                    time.sleep(fault.stall)
                if fault.close:
                    self.close_connection = True
                    return
                self.wfile.write(body[cut:])

            def log_message(self, *args) -> None:
                pass

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def next_fault(self) -> Fault | None:
        with self._lock:
            return self.faults.pop(0) if self.faults else self.always

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
