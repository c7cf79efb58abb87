"""A local stand-in for GitHub: serves ../shared/weights/official under the records' URL paths (tests only)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
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


class MirrorServer:
    """ThreadingHTTPServer on 127.0.0.1 (ephemeral port) with Range support; records every request."""

    def __init__(self, routes: dict[str, Path]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.mutate: Callable[[bytes], bytes] | None = None
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
                m = re.fullmatch(r"bytes=(\d+)-", rng or "")
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
                self.wfile.write(data[start:])

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
