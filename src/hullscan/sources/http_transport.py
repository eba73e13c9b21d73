"""An httpx transport that reads GET responses with the standard library's ``http.client``.

httpx's own transport parses HTTP/1.1 in pure Python (h11) and hands the body over in
64 KiB pieces, each copied several times: about 1 CPU-second a gigabyte, measured on
loopback against docker-registry, as much as hashing it. ``http.client`` reads a body with
the socket's buffered reader, up to 1 MiB at a time, at about 0.1 CPU-second a gigabyte. Layer
blobs are gigabytes; everything else a registry client sends is small.

So GET and HEAD requests without a body go through ``http.client`` here (connections kept
alive and reused, one pool per host); every other request (pushes, token POSTs) goes to
httpx's own transport. Everything above the transport stays httpx's: redirects, auth,
event hooks, timeouts (read from the request), proxies from the environment (httpx
mounts its own transport for those). Failures are raised as httpx's exceptions, with the
original error as their cause (the TLS verification message is looked for there).
"""

from __future__ import annotations

import contextlib
import http.client
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx

#: bytes per read of a response body: large reads are what makes this fast
READ_SIZE = 1024 * 1024
#: idle connections kept per host
MAX_IDLE = 8
#: the response extension holding ``readinto(buffer) -> int`` for the body: a reader with
#: buffers of its own has the socket fill them, with no copy in between
READINTO = "hullscan.readinto"

_Key = tuple[str, str, int]


class StreamingTransport(httpx.BaseTransport):
    """``ssl_context`` is called for the verifying context once a connection speaks TLS
    (loading the CAs costs tens of milliseconds that a plain-http registry never needs);
    httpx's own transport, for the other requests, is made at the first of them (it
    imports httpcore: a pull from a registry that asks for no token makes none)."""

    def __init__(self, ssl_context: Callable[[], ssl.SSLContext]) -> None:
        self._ssl = ssl_context
        self._fallback_transport: httpx.HTTPTransport | None = None
        self._idle: dict[_Key, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    @property
    def _fallback(self) -> httpx.HTTPTransport:
        with self._lock:
            if self._fallback_transport is None:
                self._fallback_transport = httpx.HTTPTransport(verify=self._ssl())
            return self._fallback_transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if (
            request.method not in ("GET", "HEAD")
            or _has_body(request)
            or request.url.scheme not in ("http", "https")
        ):
            return self._fallback.handle_request(request)
        url = request.url
        key: _Key = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        timeouts: dict[str, float | None] = request.extensions.get("timeout") or {}
        while True:
            conn, reused = self._connection(key, timeouts)
            try:
                resp = _exchange(conn, request)
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                if reused:  # the server closed an idle kept-alive connection: a new one
                    continue
                raise
            except BaseException:
                conn.close()
                raise
        body = _Body(resp, conn, lambda: self._release(key, conn))
        return httpx.Response(
            resp.status,
            headers=resp.getheaders(),
            stream=body,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (resp.reason or "").encode("latin-1", "replace"),
                READINTO: body.readinto,
            },
        )

    def _connection(
        self, key: _Key, timeouts: dict[str, float | None]
    ) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                conn = idle.pop()
                if conn.sock is not None:
                    conn.sock.settimeout(timeouts.get("read"))
                return conn, True
        scheme, host, port = key
        conn = (
            http.client.HTTPSConnection(
                host, port, timeout=timeouts.get("connect"), context=self._ssl()
            )
            if scheme == "https"
            else http.client.HTTPConnection(host, port, timeout=timeouts.get("connect"))
        )
        try:
            conn.connect()
        except TimeoutError as e:
            conn.close()
            raise httpx.ConnectTimeout(str(e) or "timed out connecting") from e
        except OSError as e:  # refused, unreachable, TLS handshake or verification
            conn.close()
            raise httpx.ConnectError(str(e) or type(e).__name__) from e
        assert conn.sock is not None
        conn.sock.settimeout(timeouts.get("read"))
        return conn, False

    def _release(self, key: _Key, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < MAX_IDLE:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle = [c for conns in self._idle.values() for c in conns]
            self._idle.clear()
        for conn in idle:
            conn.close()
        if self._fallback_transport is not None:
            self._fallback_transport.close()


def _has_body(request: httpx.Request) -> bool:
    length = request.headers.get("Content-Length")
    return "Transfer-Encoding" in request.headers or (length is not None and length != "0")


def _exchange(conn: http.client.HTTPConnection, request: httpx.Request) -> http.client.HTTPResponse:
    """Send ``request`` (headers only) and read the response's status and headers.
    A closed kept-alive connection surfaces as the standard library raises it (the
    caller tries a new one); anything else as httpx's exception."""
    try:
        conn.putrequest(
            request.method,
            request.url.raw_path.decode("ascii"),
            skip_host=True,
            skip_accept_encoding=True,
        )
        for name, value in request.headers.raw:
            conn.putheader(name.decode("latin-1"), value.decode("latin-1"))
        conn.endheaders()
        return conn.getresponse()
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        raise
    except TimeoutError as e:
        raise httpx.ReadTimeout(str(e) or "timed out waiting for the response") from e
    except http.client.HTTPException as e:
        raise httpx.RemoteProtocolError(str(e) or type(e).__name__) from e
    except OSError as e:
        raise httpx.ReadError(str(e) or type(e).__name__) from e


class _Body(httpx.SyncByteStream):
    """A response body, read as it arrives; the connection goes back to
    the pool only when the body was read to its end and the server keeps it open."""

    def __init__(
        self, resp: http.client.HTTPResponse, conn: http.client.HTTPConnection, release: Any
    ) -> None:
        self._resp = resp
        self._conn = conn
        self._release = release
        self._complete = False
        self._closed = False
        #: for ``readinto``: the body's declared length, and bytes read so far
        self._expected: int | None = None
        self._count: int | None = None

    def __iter__(self) -> Iterator[bytes]:
        resp = self._resp
        expected = resp.length  # None when chunked or read to the connection's end
        count = 0
        with _translated():
            # what has arrived, up to READ_SIZE (one read of the socket): a slow server's
            # bytes reach the caller's deadline checks as they come
            while data := resp.read1(READ_SIZE):
                count += len(data)
                yield data
        _check_complete(expected, count)
        self._complete = True

    def readinto(self, b: Any) -> int:
        """What has arrived of the body, up to ``len(b)`` bytes, read into ``b`` (at most
        one read of the socket, straight into ``b`` when it is larger than the socket
        file's buffer); 0 once the body is all read."""
        resp = self._resp
        if self._count is None:
            self._expected, self._count = resp.length, 0
        with _translated():
            if resp.chunked or resp.length is None or resp.fp is None:
                data = resp.read1(len(b))
                n = len(data)
                b[:n] = data
            else:  # as ``HTTPResponse.read1``, into ``b``
                view = memoryview(b)[: resp.length]
                n = resp.fp.readinto1(view) if view else 0
                resp.length -= n
        self._count += n
        if n == 0:
            _check_complete(self._expected, self._count)
            self._complete = True
        return n

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._complete and not self._resp.will_close:
            self._resp.close()
            self._release()
        else:
            self._resp.close()
            self._conn.close()


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """http.client's and the socket's failures while a body is read, as httpx's."""
    try:
        yield
    except TimeoutError as e:
        raise httpx.ReadTimeout(str(e) or "timed out reading the response") from e
    except http.client.IncompleteRead as e:
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body"
        ) from e
    except http.client.HTTPException as e:
        raise httpx.RemoteProtocolError(str(e) or type(e).__name__) from e
    except OSError as e:
        raise httpx.ReadError(str(e) or type(e).__name__) from e


def _check_complete(expected: int | None, count: int) -> None:
    """http.client ends a body cut short by the peer quietly: its length says so."""
    if expected is not None and count < expected:
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body "
            f"({count} of {expected} bytes)"
        )


__all__ = ["StreamingTransport"]
