"""A scripted HTTP server on 127.0.0.1:0 for adapter tests: each path answers from a queue of canned
responses (status, body, delay), so a test can play a real API's quirks, outages and slowness."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Canned:
    body: bytes
    status: int = 200
    delay_s: float = 0.0
    content_type: str = "application/json;charset=UTF-8"


class ScriptedServer:
    def __init__(self) -> None:
        self.routes: dict[str, deque[Canned]] = defaultdict(deque)
        self.sticky: dict[str, Canned] = {}
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                server.requests.append((parts.path, parse_qs(parts.query)))
                queue = server.routes.get(parts.path)
                canned = queue.popleft() if queue else server.sticky.get(parts.path)
                if canned is None:
                    canned = Canned(b'{"error": "no such path"}', 404)
                if canned.delay_s:
                    time.sleep(canned.delay_s)
                try:
                    self.send_response(canned.status)
                    self.send_header("Content-Type", canned.content_type)
                    self.send_header("Content-Length", str(len(canned.body)))
                    self.end_headers()
                    self.wfile.write(canned.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, path: str, body: bytes | str, status: int = 200, delay_s: float = 0.0,
            content_type: str = "application/json;charset=UTF-8", sticky: bool = False) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        canned = Canned(data, status, delay_s, content_type)
        if sticky:
            self.sticky[path] = canned
        else:
            self.routes[path].append(canned)

    def fixture(self, path: str, name: str, **kw: object) -> None:
        self.add(path, (FIXTURES / name).read_bytes(), **kw)  # type: ignore[arg-type]

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)


@contextmanager
def scripted_server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    t = threading.Thread(target=s.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield s
    finally:
        s.httpd.shutdown()
        s.httpd.server_close()
