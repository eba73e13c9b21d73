"""A scripted Docker Engine API for tests: the two calls hullscan makes
(``GET /images/{name}/json`` and ``GET /images/{name}/get``), served from real
``docker save`` archives on a Unix socket (or loopback TCP, optionally TLS)."""

from __future__ import annotations

import json
import socketserver
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote


@dataclass
class EngineImage:
    archive: Path
    #: what the engine says the image's id is
    image_id: str
    #: "ok", "truncate" (stops half-way, then closes), "chunked" (chunked transfer)
    export: str = "ok"


@dataclass
class Engine:
    images: dict[str, EngineImage]
    requests: list[str] = field(default_factory=list)


def _handler(engine: Engine) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def address_string(self) -> str:
            return "engine-client"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _json(self, status: int, doc: object) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            engine.requests.append(self.path)
            path = unquote(self.path.split("?", 1)[0])
            for suffix in ("/json", "/get"):
                if path.startswith("/images/") and path.endswith(suffix):
                    name = path[len("/images/") : -len(suffix)]
                    image = engine.images.get(name)
                    if image is None:
                        self._json(404, {"message": f"No such image: {name}"})
                    elif suffix == "/json":
                        self._json(200, {"Id": image.image_id, "RepoTags": [name]})
                    else:
                        self._export(image)
                    return
            self._json(404, {"message": "page not found"})

        def _export(self, image: EngineImage) -> None:
            data = image.archive.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-tar")
            if image.export == "chunked":
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(0, len(data), 65536):
                    chunk = data[i : i + 65536]
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
                return
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if image.export == "truncate":
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(data)

    return Handler


class _UnixHTTPServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


@contextmanager
def serve_unix(engine: Engine, socket_path: Path) -> Iterator[Path]:
    server = _UnixHTTPServer(str(socket_path), _handler(engine))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield socket_path
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve_tcp(engine: Engine, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Loopback only; yields ``host:port``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(engine))
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
