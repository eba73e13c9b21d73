"""The transport that reads GET bodies with http.client (sources/http_transport.py),
against loopback servers speaking raw HTTP/1.1, so each can misbehave on purpose."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import httpx
import pytest

from hullscan.sources.http_transport import StreamingTransport
from hullscan.sources.registry_client import ssl_context
from hullscan.sources.registry_settings import RegistrySettings

Handler = Callable[[socket.socket, int], None]


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            return b""
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            want = int(line.split(b":")[1])
            while len(rest) < want:
                more = conn.recv(65536)
                if not more:
                    break
                rest += more
    # The body may come in a later segment than the head: return the whole request.
    return head + b"\r\n\r\n" + rest


@contextmanager
def server(handler: Handler) -> Iterator[tuple[str, list[int]]]:
    """A server on 127.0.0.1 calling ``handler(conn, n)`` for its n-th connection;
    yields its base URL and the list of connections accepted."""
    sock = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            accepted.append(len(accepted))
            threading.Thread(target=_handle, args=(conn, len(accepted) - 1), daemon=True).start()

    def _handle(conn: socket.socket, n: int) -> None:
        with conn, suppress(OSError):
            handler(conn, n)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", accepted
    finally:
        sock.close()


def client(timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(
        transport=StreamingTransport(lambda: ssl_context(RegistrySettings())), timeout=timeout
    )


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def test_a_large_body_arrives_whole_and_the_connection_is_kept():
    body = bytes(range(256)) * 40_000  # 10 MB, several reads

    def handler(conn: socket.socket, n: int) -> None:
        while _read_request(conn):
            conn.sendall(ok(body))

    with server(handler) as (url, accepted), client() as c:
        for _ in range(3):
            with c.stream("GET", url + "/blob") as resp:
                assert resp.status_code == 200
                assert b"".join(resp.iter_bytes()) == body
        assert len(accepted) == 1  # one connection, kept alive for all three


def test_a_body_cut_short_is_an_error_not_a_short_body():
    def handler(conn: socket.socket, n: int) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 400)

    with (
        server(handler) as (url, _),
        client() as c,
        pytest.raises(httpx.RemoteProtocolError, match="400 of 1000 bytes"),
        c.stream("GET", url) as resp,
    ):
        b"".join(resp.iter_bytes())


def test_a_chunked_body_and_a_truncated_chunked_body():
    def handler(conn: socket.socket, n: int) -> None:
        _read_request(conn)
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        if n == 0:
            conn.sendall(head + b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        else:
            conn.sendall(head + b"5\r\nhello\r\n6\r\n wo")

    with server(handler) as (url, _), client() as c:
        assert c.get(url).content == b"hello world"
        with pytest.raises(httpx.RemoteProtocolError):
            c.get(url)


def test_an_idle_connection_the_server_closed_is_replaced_quietly():
    def handler(conn: socket.socket, n: int) -> None:
        _read_request(conn)
        conn.sendall(ok(b"first" if n == 0 else b"again"))
        # then close without a Connection: close header: the client finds out on reuse

    with server(handler) as (url, accepted), client() as c:
        assert c.get(url).content == b"first"
        assert c.get(url).content == b"again"
        assert len(accepted) == 2


def test_a_response_left_unread_does_not_go_back_to_the_pool():
    def handler(conn: socket.socket, n: int) -> None:
        while _read_request(conn):
            conn.sendall(ok(b"y" * 100_000))

    with server(handler) as (url, accepted), client() as c:
        with c.stream("GET", url) as resp:
            next(resp.iter_bytes())  # stop reading early
        assert c.get(url).content == b"y" * 100_000
        assert len(accepted) == 2


def test_requests_with_a_body_and_their_headers_reach_the_server():
    seen: list[bytes] = []

    def handler(conn: socket.socket, n: int) -> None:
        while request := _read_request(conn):
            seen.append(request)
            conn.sendall(ok(b"done"))

    with server(handler) as (url, _), client() as c:
        assert c.post(url + "/up?x=1", content=b"payload").content == b"done"
        assert (
            c.get(url + "/v2/a%20b?n=2", headers={"Authorization": "Bearer t"}).content == b"done"
        )
        assert c.head(url + "/h").status_code == 200
    assert seen[0].startswith(b"POST /up?x=1 ") and seen[0].endswith(b"payload")
    assert seen[1].startswith(b"GET /v2/a%20b?n=2 HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Bearer t\r\n" in seen[1].replace(b"authorization", b"Authorization")
    assert seen[1].lower().count(b"\r\nhost: 127.0.0.1:") == 1
    assert seen[2].startswith(b"HEAD /h ")


def test_a_stalled_server_times_out_and_a_closed_port_cannot_be_reached():
    stop = threading.Event()

    def handler(conn: socket.socket, n: int) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        stop.wait(10)

    with server(handler) as (url, _), client(timeout=0.5) as c:
        with pytest.raises(httpx.ReadTimeout):
            c.get(url)
        stop.set()
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    with client() as c, pytest.raises(httpx.ConnectError):
        c.get(f"http://127.0.0.1:{port}/")


def test_garbage_instead_of_a_status_line_is_a_protocol_error():
    def handler(conn: socket.socket, n: int) -> None:
        _read_request(conn)
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n" + b"\0" * 100)

    with server(handler) as (url, _), client() as c, pytest.raises(httpx.RemoteProtocolError):
        c.get(url)


def test_a_registry_client_goes_through_the_environment_s_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """httpx applies proxies from the environment only to its own transport: with a
    proxy set, the registry client leaves the fast transport aside."""
    from hullscan.references import parse_reference
    from hullscan.sources.registry_client import RegistryClient

    seen: list[bytes] = []

    def proxy(conn: socket.socket, n: int) -> None:
        while request := _read_request(conn):
            seen.append(request.split(b"\r\n")[0])
            conn.sendall(ok(b"blob bytes"))

    with server(proxy) as (url, _):
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
            monkeypatch.setenv(name, url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        ref = parse_reference("registry:reg.example:5000/team/app:1")
        client = RegistryClient(ref, RegistrySettings(insecure=frozenset({"reg.example:5000"})))
        client._scheme = "http"  # known: no TLS probe
        try:
            with client.get("blobs/sha256:" + "0" * 64) as resp:
                assert resp.read() == b"blob bytes"
        finally:
            client.close()
    assert seen == [
        b"GET http://reg.example:5000/v2/team/app/blobs/sha256:" + b"0" * 64 + b" HTTP/1.1"
    ]
