"""Talk to an OCI Distribution registry: HTTP API v2 for one repository.

How the client talks (all from ``RegistrySettings``): TLS is always verified, against the
system CAs plus ``ca_bundle``; loopback and ``insecure`` hosts are tried over https first
and fall back to plain http (like Docker), unless their certificate fails to verify.
GET/HEAD are retried on 429, 5xx, connection errors and read timeouts with exponential
backoff (``Retry-After`` honoured, capped). Credentials come from ``registry_auth``.
"""

from __future__ import annotations

import base64
import email.utils
import functools
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import httpx

from hullscan.blob import BlobRef
from hullscan.errors import HullscanError, ImageError, RegistryError, TooLarge, shown
from hullscan.references import Reference, _hostname, _port, is_loopback
from hullscan.sources import registry_auth
from hullscan.sources.http_transport import StreamingTransport
from hullscan.sources.interface import INDEX_TYPES, MANIFEST_TYPES, load_json
from hullscan.sources.registry_auth import Credentials
from hullscan.sources.registry_settings import RegistrySettings
from hullscan.streams import CHUNK, Limits

MAX_REDIRECTS = 5
#: a blob download slower than this for ``timeout`` seconds is given up (bytes/s)
MIN_BLOB_RATE = 1024.0
MAX_TOKEN_BYTES = 1024 * 1024
MAX_LIST_BYTES = 8 * 1024 * 1024  # one page of a catalog or tag list
MAX_PAGES = 100_000
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRYABLE = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadTimeout,
    httpx.ReadError,
    httpx.RemoteProtocolError,
    httpx.PoolTimeout,
)
# backoff: BACKOFF_BASE * 2**attempt seconds, and Retry-After, both capped at MAX_BACKOFF;
# tests make it instant by replacing ``_sleep``
BACKOFF_BASE = 0.5
MAX_BACKOFF = 30.0
_sleep: Callable[[float], None] = time.sleep
# an extra ALPN name 10 bytes long puts a newline byte (its length) in the TLS ClientHello,
# so a plain-HTTP server answers "400 Bad Request" at once instead of waiting for a line
_PROBE_ALPN = ["http/1.1", "hullscan/1"]
_CHALLENGE_RE = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


ACCEPT = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))


@dataclass(frozen=True)
class FetchedManifest:
    data: bytes
    media_type: str | None
    #: ``Docker-Content-Digest`` as the registry claims it (the caller checks it)
    header_digest: str | None


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, params = header.strip().partition(" ")
    found = {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3) or "")
        for m in _CHALLENGE_RE.finditer(params)
    }
    return scheme.lower(), {k: v.replace('\\"', '"') for k, v in found.items()}


def ssl_context(settings: RegistrySettings) -> ssl.SSLContext:
    """Verifying context: the system CAs, certifi's, and ``settings.ca_bundle``. Shared
    by every client with the same bundle (loading the CAs costs tens of milliseconds,
    and a fleet scan opens clients by the thousand); callers must not change it."""
    bundle = settings.ca_bundle
    if bundle is None:
        return _shared_context(None, None)
    try:
        st = os.stat(bundle)
    except OSError as e:
        raise HullscanError(
            f"{bundle}: not a readable PEM CA bundle ({type(e).__name__})"
        ) from None
    return _shared_context(str(bundle), (st.st_mtime_ns, st.st_size, st.st_ino))


@functools.lru_cache(maxsize=16)
def _shared_context(bundle: str | None, _version: tuple[int, int, int] | None) -> ssl.SSLContext:
    """One context per CA bundle (and its version: an edited bundle is loaded again)."""
    return _new_context(bundle)


def _new_context(bundle: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    with suppress(ImportError, OSError, ssl.SSLError):
        import certifi

        ctx.load_verify_locations(cafile=certifi.where())
    if bundle is not None:
        try:
            ctx.load_verify_locations(cafile=bundle)
        except (OSError, ssl.SSLError) as e:
            raise HullscanError(
                f"{bundle}: not a readable PEM CA bundle ({type(e).__name__})"
            ) from None
    return ctx


def _probe_context() -> ssl.SSLContext:
    """A context for the TLS probe, which only asks whether the host speaks TLS: it sends
    nothing, so it verifies nothing (no CAs to load); the requests that follow verify
    the certificate, and one that does not verify stops them (never a reason to drop
    TLS)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(_PROBE_ALPN)
    return ctx


def _proxied() -> bool:
    """Whether the environment names an HTTP(S) proxy (``HTTPS_PROXY`` and the like)."""
    from urllib.request import getproxies

    return bool({"http", "https", "all"} & set(getproxies()))


def _cert_failure(err: BaseException) -> str | None:
    """The verification failure behind a TLS error, if that is what it is."""
    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, ssl.SSLCertVerificationError):
            return _verify_failed(e.verify_message)
        if "CERTIFICATE_VERIFY_FAILED" in str(e):
            return _verify_failed(None)
        e = e.__cause__ or e.__context__
    return None


def _verify_failed(detail: str | None) -> str:
    return "certificate verify failed" + (f": {shown(detail)}" if detail else "")


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_BACKOFF)
    with suppress(TypeError, ValueError, IndexError, OverflowError):
        when = email.utils.parsedate_to_datetime(value)
        return min(max(float(when.timestamp()) - time.time(), 0.0), MAX_BACKOFF)
    return None


def backoff_delay(attempt: int, retry_after: str | None = None) -> float:
    """Seconds to wait before retry ``attempt + 1``."""
    hinted = _retry_after(retry_after)
    if hinted is not None:
        return hinted
    return min(BACKOFF_BASE * 2.0**attempt, MAX_BACKOFF)


class RegistryClient:
    """HTTP API v2 for one repository: anonymous, Bearer-token or Basic auth."""

    def __init__(
        self,
        ref: Reference,
        settings: RegistrySettings | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        event_hooks: dict[str, list[Any]] | None = None,
        scheme: str | None = None,
        authorization: str | None = None,
    ) -> None:
        """``scheme`` and ``authorization``: what another client of this registry already
        settled on (a worker process fetching a blob for a pull), so that they are not
        probed or asked for again."""
        settings = settings or RegistrySettings()
        self.ref = ref
        self.settings = settings
        self._plain_ok = bool(
            {ref.host, _hostname(ref.host)} & set(settings.insecure) or is_loopback(ref.host)
        )
        # None: not known yet (insecure/loopback hosts are probed: https, else http)
        self._scheme: str | None = None if self._plain_ok else "https"
        if scheme is not None and (scheme == "https" or self._plain_ok):
            self._scheme = scheme
        self._custom_transport = transport is not None
        self._creds: Credentials | None = None
        self._creds_loaded = False
        self._auth_header: str | None = authorization
        self._auth_key: str | None = None
        self._answered: dict[str, int] = {}  # challenge (scheme + scope) → times answered
        self._auth_lock = threading.Lock()
        self._worked: set[str] = set()  # challenges whose answer got a non-401 response
        self.retried = 0
        hooks: dict[str, list[Any]] = {"request": [self._check_scheme], "response": []}
        for key, extra in (event_hooks or {}).items():
            hooks.setdefault(key, []).extend(extra)
        timeout = httpx.Timeout(settings.timeout, connect=min(15.0, settings.timeout))
        # layer blobs are read by http.client in large reads (see http_transport), unless
        # a proxy is set: httpx applies the environment's proxies only to its own transport
        verify: ssl.SSLContext | bool = True  # httpx's, for proxies only: see below
        if transport is None and not _proxied():
            # the CAs are loaded once TLS is spoken: a plain-http registry (loopback, or
            # an --insecure-registry) never needs them (tens of milliseconds at start-up)
            transport = StreamingTransport(functools.partial(ssl_context, settings))
        else:
            verify = ssl_context(settings)
        if not self._plain_ok:
            ssl_context(settings)  # a bad CA bundle is an error now, not at the first GET
        self.client = httpx.Client(
            timeout=timeout,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            verify=verify,
            transport=transport,
            event_hooks=hooks,
            headers={"User-Agent": "hullscan"},
        )

    @property
    def authorization(self) -> str | None:
        """The ``Authorization`` header this client sends now (None: anonymous so far)."""
        return self._auth_header

    def deadline(self) -> float:
        """When a response that must arrive whole (a manifest, a token) is too late."""
        return time.monotonic() + self.settings.timeout

    def fetch_manifest(self, reference: str, limit: int, what: str) -> FetchedManifest:
        """GET a manifest (tag or digest), bounded by ``limit`` bytes and the timeout; a
        non-200 is a ``RegistryError``. Digests are the caller's to check: a pull and a
        ``verify`` treat a mismatch differently."""
        with self.get(f"manifests/{reference}", ACCEPT) as resp:
            media = resp.headers.get("Content-Type", "").split(";")[0].strip() or None
            data = read_bounded(resp, limit, what, self.deadline())
            return FetchedManifest(data, media, resp.headers.get("Docker-Content-Digest"))

    def close(self) -> None:
        self.client.close()

    # -- listing -------------------------------------------------------------------------

    def catalog(self, page_size: int = 100) -> Iterator[str]:
        """Every repository the registry lists (``GET /v2/_catalog``, page by page)."""
        return self._pages(
            f"{self.scheme}://{self.ref.host}/v2/_catalog?n={page_size}",
            "repositories",
            f"{self.ref.host} catalog",
        )

    def tags(self, page_size: int = 100) -> Iterator[str]:
        """Every tag of the repository (``GET /v2/<repo>/tags/list``, page by page)."""
        return self._pages(f"{self.base}/tags/list?n={page_size}", "tags", f"{self.ref.name} tags")

    def _pages(self, url: str, key: str, what: str) -> Iterator[str]:
        """The names of a paginated list, following ``Link: <…>; rel="next"`` (same host
        only, each page once, at most ``MAX_PAGES``)."""
        seen: set[str] = set()
        while True:
            if url in seen or len(seen) >= MAX_PAGES:
                raise RegistryError(f"{what}: the registry's pages do not end")
            seen.add(url)
            with self.request("GET", "", url=url, accept="application/json") as resp:
                if resp.status_code in (404, 405):
                    raise RegistryError(
                        f"{what}: not offered by the registry (HTTP {resp.status_code})",
                        status=resp.status_code,
                    )
                self._raise_for_status(resp, key)
                data = read_bounded(resp, MAX_LIST_BYTES, what, self.deadline())
                following = resp.links.get("next", {}).get("url")
                here = resp.url
            doc = load_json(data, what, Limits())
            names = doc.get(key)
            if names is None:
                names = []
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise RegistryError(f"{what}: {key!r} is not a list of names")
            yield from names
            if not following:
                return
            nxt = here.join(following)
            if nxt.host != here.host or nxt.port != here.port:
                raise RegistryError(f"{what}: the next page is on another host ({shown(nxt.host)})")
            url = str(nxt)

    # -- where ---------------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        if self._scheme is None:
            tls = self._probe_tls()
            if tls is None:
                return "http"  # could not tell (not listening?): plain, and ask again later
            self._scheme = "https" if tls else "http"
        return self._scheme

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.ref.host}/v2/{self.ref.repository}"

    def _tls_error(self, reason: str) -> HullscanError:
        return RegistryError(
            f"{self.ref.host}: TLS {reason} (is its CA in --ca-cert or registries.ca_bundle?)",
            transport=True,
        )

    def _probe_tls(self) -> bool | None:
        """Does the insecure/loopback host speak TLS? True, False, or None (unknown).
        A certificate that does not verify is an error (of the requests that follow),
        never a reason to drop TLS."""
        if self._custom_transport:
            try:
                with self.client.stream("GET", f"https://{self.ref.host}/v2/"):
                    return True
            except httpx.TransportError as e:
                reason = _cert_failure(e)
                if reason:
                    raise self._tls_error(reason) from None
                return False
        ctx = _probe_context()
        hostname = _hostname(self.ref.host)
        timeout = min(10.0, self.settings.timeout)
        try:
            sock = socket.create_connection((hostname, _port(self.ref.host)), timeout=timeout)
        except OSError:
            return None
        with sock:
            try:
                with ctx.wrap_socket(sock, server_hostname=hostname):
                    return True
            except (ssl.SSLError, OSError):
                return False

    def _check_scheme(self, request: httpx.Request) -> None:
        """Plain http only to the insecure/loopback registry itself (redirects included)."""
        if request.url.scheme == "https":
            return
        host = request.url.host
        if (
            request.url.scheme == "http"
            and self._plain_ok
            and (is_loopback(host) or host == _hostname(self.ref.host))
        ):
            return
        raise HullscanError(
            f"{self.ref.name}: refusing a plain-{request.url.scheme} request "
            f"to {shown(host)} (not in --insecure-registry)"
        )

    # -- who -----------------------------------------------------------------------------

    @property
    def credentials(self) -> Credentials | None:
        """Looked up on the first challenge only: anonymous pulls run no helper."""
        if not self._creds_loaded:
            self._creds = registry_auth.lookup(self.ref.host, self.settings)
            self._creds_loaded = True
        return self._creds

    # -- requests ------------------------------------------------------------------------

    @contextmanager
    def get(self, path: str, accept: str | None = None) -> Iterator[httpx.Response]:
        """GET ``/v2/<repo>/<path>`` (a 200, or an ``ImageError``); the body streams."""
        with self.request("GET", path, accept=accept) as resp:
            self._raise_for_status(resp, path)
            yield resp

    @contextmanager
    def request(
        self,
        method: str,
        path: str,
        *,
        accept: str | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | BlobRef | None = None,
        url: str | None = None,
    ) -> Iterator[httpx.Response]:
        """Any API call: ``path`` is relative to ``/v2/<repo>/`` unless ``url`` (an upload
        location) is given. Answers a 401 challenge once per new scope (a push needs a
        token with more scope than a pull), and once more when a token that worked has
        expired. GET/HEAD are retried (see ``RETRY_STATUSES``, ``RETRYABLE``). The status
        is the caller's to check."""
        all_headers = {"Accept-Encoding": "identity", **(headers or {})}
        if accept:
            all_headers["Accept"] = accept
        try:
            resp = self._respond(method, path, url, all_headers, content)
        except httpx.TooManyRedirects:
            raise RegistryError(
                f"{self.ref.name}: more than {MAX_REDIRECTS} redirects fetching {shown(path)}"
            ) from None
        except httpx.HTTPError as e:
            raise self.transport_error(e, path) from None
        try:
            yield resp
        except httpx.HTTPError as e:
            raise self.transport_error(e, path, mid_body=True) from None
        finally:
            resp.close()

    def transport_error(
        self, e: httpx.HTTPError, path: str, mid_body: bool = False
    ) -> RegistryError:
        reason = _cert_failure(e)
        if reason:
            return RegistryError(
                f"{self.ref.host}: TLS {reason} (is its CA in --ca-cert or registries.ca_bundle?)",
                transport=True,
            )
        if isinstance(e, httpx.TimeoutException):
            what = f"timed out after {self.settings.timeout:g} s"
        elif isinstance(e, httpx.ConnectError):
            what = "cannot connect"
        else:
            what = type(e).__name__
        detail = shown(e)
        return RegistryError(
            f"{self.ref.name}: {what} fetching {shown(path)}" + (f": {detail}" if detail else ""),
            transport=True,
            mid_body=mid_body,
        )

    def _respond(
        self,
        method: str,
        path: str,
        url: str | None,
        headers: dict[str, str],
        content: bytes | BlobRef | None,
    ) -> httpx.Response:
        retry = method in ("GET", "HEAD")
        attempts = self.settings.retries + 1 if retry else 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                target = url or f"{self.base}/{path}"
                resp = self._send(method, target, headers, content)
                if resp.status_code == 401 and self._authenticate(resp):
                    resp.close()
                    resp = self._send(method, target, headers, content)
            except RETRYABLE as e:
                if last or _cert_failure(e):
                    raise
                self._wait(attempt, None)
                continue
            if resp.status_code in RETRY_STATUSES and not last and retry:
                hint = resp.headers.get("Retry-After")
                resp.close()
                self._wait(attempt, hint)
                continue
            return resp
        raise AssertionError("unreachable")

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        self.retried += 1
        _sleep(backoff_delay(attempt, retry_after))

    def _send(
        self, method: str, url: str, headers: dict[str, str], content: bytes | BlobRef | None = None
    ) -> httpx.Response:
        if self._auth_header:
            headers = {**headers, "Authorization": self._auth_header}
        body = _chunks(content) if isinstance(content, BlobRef) else content  # fresh per try
        request = self.client.build_request(method, url, headers=headers, content=body)
        resp = self.client.send(request, stream=True)
        if self._auth_key is not None and resp.status_code != 401:
            self._worked.add(self._auth_key)
        return resp

    def _authenticate(self, resp: httpx.Response) -> bool:
        """Answer a 401 challenge; False when there is nothing (new) to try. A bearer
        token that worked and is refused again (expired) is refreshed once."""
        with self._auth_lock:  # blobs download in parallel: one answer per challenge
            return self._answer(resp)

    def _answer(self, resp: httpx.Response) -> bool:
        if self._auth_header and resp.request.headers.get("Authorization") != self._auth_header:
            return True  # another download answered this challenge meanwhile: retry with it
        scheme, params = _parse_challenge(resp.headers.get("WWW-Authenticate", ""))
        key = f"{scheme} {params.get('scope', '')}"
        times = self._answered.get(key, 0)
        if times and not (scheme == "bearer" and times == 1 and key in self._worked):
            return False
        self._answered[key] = times + 1
        self._worked.discard(key)
        if scheme == "basic":
            creds = self.credentials
            basic = creds.basic if creds else None
            if basic is None:
                return False
            user, pw = basic
            self._auth_header = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
            self._auth_key = key
            return True
        if scheme != "bearer" or not params.get("realm"):
            return False
        self._auth_header = f"Bearer {self._token(params)}"
        self._auth_key = key
        return True

    def _token(self, params: dict[str, str]) -> str:
        try:
            realm = httpx.URL(params["realm"])
        except httpx.InvalidURL:
            raise RegistryError(
                f"{self.ref.name}: the registry's token realm "
                f"{shown(params['realm'])[:200]!r} is not a URL"
            ) from None
        if realm.scheme not in ("https", "http"):
            raise RegistryError(
                f"{self.ref.name}: unsupported token realm scheme {shown(realm.scheme)!r}"
            )
        scope = params.get("scope") or f"repository:{self.ref.repository}:pull"
        creds = self.credentials
        deadline = time.monotonic() + self.settings.timeout
        what = f"{self.ref.name} token response"
        if creds is not None and creds.identity_token:
            # an OAuth2 refresh token (``docker login`` with a token service)
            form = {
                "grant_type": "refresh_token",
                "refresh_token": creds.identity_token,
                "client_id": "hullscan",
                "scope": scope,
            }
            if params.get("service"):
                form["service"] = params["service"]
            who = f"the identity token from {creds.source}"
            ctx = self.client.stream("POST", realm, data=form)
        else:
            query: dict[str, str] = {"scope": scope}
            if params.get("service"):
                query["service"] = params["service"]
            basic = creds.basic if creds else None
            auth = httpx.BasicAuth(*basic) if basic is not None else None
            who = f"the credentials from {creds.source}" if basic and creds else "anonymous access"
            ctx = self.client.stream("GET", realm, params=query, auth=auth)
        try:
            with ctx as resp:
                if resp.status_code in (401, 403):
                    raise RegistryError(
                        f"{self.ref.name}: the token service refused {who} "
                        f"(HTTP {resp.status_code})",
                        status=resp.status_code,
                    )
                if resp.status_code != 200:
                    raise RegistryError(
                        f"{self.ref.name}: the token service answered HTTP {resp.status_code}",
                        status=resp.status_code,
                    )
                body = read_bounded(resp, MAX_TOKEN_BYTES, what, deadline)
        except httpx.HTTPError as e:
            raise self.transport_error(e, "token") from None
        doc = load_json(body, what, Limits())
        token = doc.get("token") or doc.get("access_token")
        if not isinstance(token, str) or not token or not token.isprintable():
            raise RegistryError(f"{self.ref.name}: the token service returned no token")
        return token

    def _raise_for_status(self, resp: httpx.Response, path: str) -> None:
        code = resp.status_code
        if code == 200:
            return
        what = shown(path.split("/", 1)[-1])
        if code == 401:
            creds = self._creds if self._creds_loaded else None
            if creds is None:
                hint = "; pass credentials (--username/--password-stdin or docker login)"
            elif creds.identity_token and not creds.basic:
                hint = f"; the identity token from {creds.source} only works with a token service"
            else:
                hint = f"; the credentials from {creds.source} were refused"
            raise RegistryError(
                f"{self.ref.name}: authentication required or refused (HTTP 401){hint}", status=code
            )
        if code == 403:
            raise RegistryError(f"{self.ref.name}: access denied (HTTP 403)", status=code)
        if code == 404:
            kind = "manifest" if path.startswith("manifests/") else "blob"
            raise RegistryError(f"{self.ref.name}: {kind} {what} not found (HTTP 404)", status=code)
        if code == 429:
            raise RegistryError(
                f"{self.ref.name}: rate limited by the registry (HTTP 429, "
                f"gave up after {self.settings.retries} retries)",
                status=code,
            )
        if code >= 500:
            raise RegistryError(
                f"{self.ref.name}: HTTP {code} fetching {what} (gave up "
                f"after {self.settings.retries} retries)",
                status=code,
            )
        raise RegistryError(f"{self.ref.name}: HTTP {code} fetching {what}", status=code)


def _chunks(blob: BlobRef) -> Iterator[bytes]:
    """An upload body read from a file as it is sent (a layer is never held in memory)."""
    with blob.open() as f:
        while chunk := f.read(CHUNK):
            yield chunk


def _timed(
    chunks: Iterable[bytes],
    deadline: float | None,
    what: str,
    timeout: float,
    min_rate: float | None = None,
) -> Iterator[bytes]:
    """``chunks``, ended with an ``ImageError`` past ``deadline``, or (``min_rate``) when
    fewer than ``min_rate * timeout`` bytes arrived in the last ``timeout`` seconds (like
    curl's ``--speed-limit``): a slow drip ends like a stall does."""
    floor = RateFloor(what, timeout, min_rate) if min_rate is not None else None
    for chunk in chunks:
        if deadline is not None and time.monotonic() > deadline:
            raise ImageError(
                f"{what}: not complete within the timeout of {timeout:g} s "
                "(the server is too slow or never ends)"
            )
        if floor is not None:
            floor.arrived(len(chunk))
        yield chunk


class RateFloor:
    """Ends a download with an ``ImageError`` when fewer than ``min_rate * timeout`` bytes
    arrived in the last ``timeout`` seconds (like curl's ``--speed-limit``): a slow drip
    ends like a stall does."""

    def __init__(self, what: str, timeout: float, min_rate: float = MIN_BLOB_RATE) -> None:
        self._what, self._timeout, self._min_rate = what, timeout, min_rate
        self._start, self._bytes = time.monotonic(), 0

    def arrived(self, n: int) -> None:
        now = time.monotonic()
        self._bytes += n
        if now - self._start >= self._timeout:
            if self._bytes < self._min_rate * self._timeout:
                raise ImageError(
                    f"{self._what}: slower than {self._min_rate:g} bytes/s for "
                    f"{self._timeout:g} s, giving up"
                )
            self._start, self._bytes = now, 0


def read_bounded(
    resp: httpx.Response, limit: int, what: str, deadline: float | None = None
) -> bytes:
    declared = resp.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"{what}: larger than {limit} bytes")
    out = bytearray()
    for chunk in resp.iter_bytes():
        if deadline is not None and time.monotonic() > deadline:
            raise ImageError(
                f"{what}: not complete within the timeout (the server is too slow or never ends)"
            )
        out += chunk
        if len(out) > limit:
            raise TooLarge(f"{what}: larger than {limit} bytes")
    return bytes(out)


__all__ = ["RegistryClient", "RegistryError", "backoff_delay", "read_bounded", "ssl_context"]
