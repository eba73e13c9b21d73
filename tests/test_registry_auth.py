"""Registry credentials: Docker's config.json (``auths``, ``credHelpers``, ``credsStore``,
identity tokens), explicit flags, and real authenticating registries (htpasswd Basic auth;
token auth with JWTs signed by a test token service). No secret ever reaches the output.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import os
import re
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from hullscan.cli import main
from hullscan.errors import HullscanError
from hullscan.sources import registry_auth
from hullscan.sources.registry_auth import Credentials, lookup
from hullscan.sources.registry_settings import RegistrySettings

from imagebuilder import BuiltImage, build, debian_base, python_dist, write_oci
from localregistry import (
    PASSWORD,
    REF_NAME,
    REGISTRY,
    SKOPEO,
    USER,
    push,
    start_registry,
    stop_registry,
)

HOST = "registry.example.test:5000"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write_config(directory: Path, doc: dict[str, Any]) -> RegistrySettings:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(doc))
    return RegistrySettings(docker_config=directory)


def helper(
    bindir: Path,
    name: str,
    answers: dict[str, tuple[str, str]],
    log: Path | None = None,
    body: str | None = None,
) -> None:
    """``docker-credential-<name>``: answers ``get`` for the servers in ``answers``."""
    bindir.mkdir(parents=True, exist_ok=True)
    cases = "".join(
        f"  {json.dumps(server)}) printf '%s' '{json.dumps({'ServerURL': server, 'Username': u, 'Secret': s})}'; exit 0;;\n"  # noqa: E501
        for server, (u, s) in answers.items()
    )
    script = bindir / f"docker-credential-{name}"
    script.write_text(
        "#!/bin/sh\n"
        '[ "$1" = get ] || exit 3\n'
        "read -r server\n"
        + (f'printf "%s\\n" "$server" >> {log}\n' if log else "")
        + (
            body
            or f'case "$server" in\n{cases}esac\n'
            'echo "credentials not found in native keychain"; exit 1\n'
        )
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No Docker config, credentials or hullscan.yaml of the machine's."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-none"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("HULLSCAN_PASSWORD", "HULLSCAN_USERNAME", "HULLSCAN_CA_CERT"):
        monkeypatch.delenv(var, raising=False)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    return bindir


# -- lookup (no registry) ------------------------------------------------------------------


def test_auths_base64(tmp_path: Path) -> None:
    settings = write_config(tmp_path / "d", {"auths": {HOST: {"auth": b64("ann:pw:with:colons")}}})
    creds = lookup(HOST, settings)
    assert creds is not None and creds.basic == ("ann", "pw:with:colons")
    assert lookup("other.test", settings) is None


@pytest.mark.parametrize("key", [f"https://{HOST}", f"http://{HOST}/v2/", f"https://{HOST}/"])
def test_auths_url_keys(tmp_path: Path, key: str) -> None:
    settings = write_config(tmp_path / "d", {"auths": {key: {"username": "u", "password": "p"}}})
    creds = lookup(HOST, settings)
    assert creds is not None and creds.basic == ("u", "p")


def test_auths_docker_hub(tmp_path: Path) -> None:
    settings = write_config(
        tmp_path / "d", {"auths": {"https://index.docker.io/v1/": {"auth": b64("hubuser:hubpw")}}}
    )
    creds = lookup("registry-1.docker.io", settings)
    assert creds is not None and creds.basic == ("hubuser", "hubpw")


def test_docker_config_env_and_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path / "env", {"auths": {HOST: {"auth": b64("envuser:x")}}})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "env"))
    creds = lookup(HOST, RegistrySettings())
    assert creds is not None and creds.username == "envuser"
    monkeypatch.delenv("DOCKER_CONFIG")
    write_config(tmp_path / "home" / ".docker", {"auths": {HOST: {"auth": b64("homeuser:x")}}})
    creds = lookup(HOST, RegistrySettings())
    assert creds is not None and creds.username == "homeuser"


def test_identity_token(tmp_path: Path) -> None:
    settings = write_config(tmp_path / "d", {"auths": {HOST: {"identitytoken": "refresh-abc"}}})
    creds = lookup(HOST, settings)
    assert creds is not None and creds.identity_token == "refresh-abc"
    assert creds.basic is None
    assert "refresh-abc" not in repr(creds)


def test_cred_helper(tmp_path: Path, isolated: Path) -> None:
    log = tmp_path / "helper.log"
    helper(isolated, "test", {HOST: ("helperuser", "helper-secret-1")}, log)
    settings = write_config(
        tmp_path / "d",
        {"credHelpers": {HOST: "test"}, "auths": {HOST: {"auth": b64("authsuser:auths-pw")}}},
    )  # the helper wins
    creds = lookup(HOST, settings)
    assert creds is not None and creds.basic == ("helperuser", "helper-secret-1")
    assert "docker-credential-test" in creds.source
    assert log.read_text() == f"{HOST}\n"  # the server on stdin
    assert "helper-secret-1" not in repr(creds)


def test_cred_helper_identity_token(tmp_path: Path, isolated: Path) -> None:
    helper(isolated, "test", {HOST: ("<token>", "refresh-from-helper")})
    settings = write_config(tmp_path / "d", {"credHelpers": {HOST: "test"}})
    creds = lookup(HOST, settings)
    assert creds is not None and creds.identity_token == "refresh-from-helper"
    assert creds.username is None


def test_creds_store(tmp_path: Path, isolated: Path) -> None:
    log = tmp_path / "store.log"
    helper(
        isolated,
        "store",
        {"https://index.docker.io/v1/": ("hub", "hub-secret"), HOST: ("u", "store-secret")},
        log,
    )
    settings = write_config(
        tmp_path / "d", {"credsStore": "store", "auths": {"other.test": {"auth": b64("o:p")}}}
    )
    creds = lookup(HOST, settings)
    assert creds is not None and creds.basic == ("u", "store-secret")
    hub = lookup("registry-1.docker.io", settings)
    assert hub is not None and hub.basic == ("hub", "hub-secret")
    assert log.read_text().splitlines() == [HOST, "https://index.docker.io/v1/"]
    # auths still wins over the store for its host
    other = lookup("other.test", settings)
    assert other is not None and other.basic == ("o", "p")
    # the store has nothing: anonymous
    assert lookup("nothing.test", settings) is None


def test_missing_helper_means_anonymous(tmp_path: Path) -> None:
    settings = write_config(
        tmp_path / "d", {"credsStore": "not-installed-xyz", "credHelpers": {HOST: "also-missing"}}
    )
    assert lookup(HOST, settings) is None
    assert lookup("other.test", settings) is None


def test_failing_helper_is_an_error_without_secrets(tmp_path: Path, isolated: Path) -> None:
    helper(isolated, "broken", {}, body='echo "keychain locked" >&2; exit 5\n')
    settings = write_config(tmp_path / "d", {"credsStore": "broken"})
    with pytest.raises(
        HullscanError,
        match=r"docker-credential-broken get .* failed "
        r"\(exit 5\): keychain locked",
    ):
        lookup(HOST, settings)
    helper(isolated, "garbage", {}, body="echo 'not json secret-xyz'; exit 0\n")
    settings = write_config(tmp_path / "e", {"credsStore": "garbage"})
    with pytest.raises(HullscanError, match="answer is not JSON") as err:
        lookup(HOST, settings)
    assert "secret-xyz" not in str(err.value)


def test_slow_helper_times_out(
    tmp_path: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_auth, "HELPER_TIMEOUT", 0.5)
    helper(isolated, "slow", {}, body="exec sleep 5\n")
    settings = write_config(tmp_path / "d", {"credsStore": "slow"})
    start = time.monotonic()
    with pytest.raises(HullscanError, match="docker-credential-slow: no answer"):
        lookup(HOST, settings)
    assert time.monotonic() - start < 4


def test_explicit_settings_win(tmp_path: Path, isolated: Path) -> None:
    helper(isolated, "test", {HOST: ("helperuser", "helper-secret")})
    settings = write_config(tmp_path / "d", {"credHelpers": {HOST: "test"}})
    explicit = RegistrySettings(
        username="flaguser", password="flag-secret", docker_config=settings.docker_config
    )
    creds = lookup(HOST, explicit)
    assert creds is not None and creds.basic == ("flaguser", "flag-secret")
    assert "flag-secret" not in repr(creds) and "flag-secret" not in repr(explicit)


def test_bad_config_errors_quote_no_secret(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "config.json").write_text('{"auths": {"h": {"auth": "c2VjcmV0LXh5eg=="}} oops')
    with pytest.raises(HullscanError, match="not valid JSON") as err:
        lookup(HOST, RegistrySettings(docker_config=d))
    assert "c2VjcmV0" not in str(err.value)
    settings = write_config(tmp_path / "e", {"auths": {HOST: {"auth": "!!secret-xyz!!"}}})
    with pytest.raises(HullscanError, match="not base64") as err:
        lookup(HOST, settings)
    assert "secret-xyz" not in str(err.value)


def test_credentials_repr_hides_secrets() -> None:
    creds = Credentials("u", "pw-123", "tok-456", "somewhere")
    assert "pw-123" not in repr(creds) and "tok-456" not in repr(creds)


# -- against real registries ---------------------------------------------------------------


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    image: BuiltImage = build([debian_base(), [python_dist("requests", "2.31.0")]])
    return write_oci(
        [(image, {"annotations": {REF_NAME: "1"}})], tmp_path_factory.mktemp("layout") / "oci"
    )


def _need_registry() -> None:
    if not os.access(REGISTRY, os.X_OK) or SKOPEO is None:
        pytest.skip("needs /usr/bin/docker-registry (bash scripts/registry.sh) and skopeo")


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory, layout: Path) -> Iterator[str]:
    _need_registry()
    crypt = pytest.importorskip("crypt")  # bcrypt via the C library (libxcrypt)
    hashed = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH))
    if not hashed or not hashed.startswith("$2"):
        pytest.skip("the C library's crypt() has no bcrypt")
    root = tmp_path_factory.mktemp("basicreg")
    (root / "htpasswd").write_text(f"{USER}:{hashed}\n")
    reg = start_registry(
        root, {"htpasswd": {"realm": "hullscan-test", "path": str(root / "htpasswd")}}
    )
    try:
        push(layout, "1", f"{reg.host}/test/app:1", creds=f"{USER}:{PASSWORD}")
        yield reg.host
    finally:
        stop_registry(reg)


def sbom(
    ref: str, cache: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, str]:
    code = main(["sbom", ref, "--cache-dir", str(cache), "-q", *extra])
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_failed(code: int, out: str, err: str, pattern: str, *secrets: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert re.search(pattern, lines[0]), lines[0]
    for secret in secrets:
        assert secret not in out and secret not in err


def test_basic_auth_from_docker_config(
    basic_registry: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ref = f"registry:{basic_registry}/test/app:1"
    code, out, err = sbom(ref, tmp_path / "anon", capsys)
    assert_failed(code, out, err, r"HTTP 401\); pass credentials")
    write_config(tmp_path / "dc", {"auths": {basic_registry: {"auth": b64(f"{USER}:{PASSWORD}")}}})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "dc"))
    code, out, err = sbom(ref, tmp_path / "ok", capsys)
    assert code == 0, err
    assert "requests" in out and PASSWORD not in out + err


def test_basic_auth_wrong_password_in_config(
    basic_registry: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_config(
        tmp_path / "dc",
        {"auths": {f"https://{basic_registry}": {"username": USER, "password": "wrong-pw-1234"}}},
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "dc"))
    code, out, err = sbom(f"registry:{basic_registry}/test/app:1", tmp_path / "c", capsys)
    assert_failed(
        code,
        out,
        err,
        r"HTTP 401\); the credentials from .*config\.json auths "
        r"were refused",
        "wrong-pw-1234",
    )


def test_basic_auth_from_cred_helper(
    basic_registry: str,
    tmp_path: Path,
    isolated: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = tmp_path / "helper.log"
    helper(isolated, "test", {basic_registry: (USER, PASSWORD)}, log)
    write_config(tmp_path / "dc", {"credHelpers": {basic_registry: "test"}})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "dc"))
    code, out, err = sbom(f"registry:{basic_registry}/test/app:1", tmp_path / "c", capsys)
    assert code == 0, err
    assert PASSWORD not in out + err
    assert log.read_text() == f"{basic_registry}\n"  # asked once, on the first challenge


def test_basic_auth_from_creds_store(
    basic_registry: str,
    tmp_path: Path,
    isolated: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    helper(isolated, "store", {basic_registry: (USER, PASSWORD)})
    write_config(tmp_path / "dc", {"credsStore": "store"})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "dc"))
    code, _, err = sbom(f"registry:{basic_registry}/test/app:1", tmp_path / "c", capsys)
    assert code == 0, err


def test_explicit_flags_win_over_config(
    basic_registry: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ref = f"registry:{basic_registry}/test/app:1"
    write_config(tmp_path / "dc", {"auths": {basic_registry: {"auth": b64(f"{USER}:wrong-cfg")}}})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "dc"))
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    code, out, err = sbom(ref, tmp_path / "stdin", capsys, "--username", USER, "--password-stdin")
    assert code == 0, err
    assert PASSWORD not in out + err
    # and the other way round: a wrong flag is not rescued by the right config
    write_config(tmp_path / "dc", {"auths": {basic_registry: {"auth": b64(f"{USER}:{PASSWORD}")}}})
    monkeypatch.setenv("HULLSCAN_PASSWORD", "wrong-flag-pw")
    code, out, err = sbom(ref, tmp_path / "env", capsys, "--username", USER)
    assert_failed(
        code,
        out,
        err,
        r"credentials from --username/--password were refused",
        "wrong-flag-pw",
        PASSWORD,
    )


# -- token auth: docker-registry trusting JWTs from a token service in the test ------------

SERVICE = "hullscan-registry"
ISSUER = "hullscan-test-token-issuer"
REFRESH_TOKEN = "refresh-token-5ecret"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenService:
    """The token endpoint of the Docker token auth spec: Basic credentials (or an OAuth2
    refresh token, POSTed) in, an RS256 JWT carrying the granted ``access`` out. The
    signing certificate is self-signed and is the registry's ``rootcertbundle``; the JWT
    names it in its ``x5c`` header, as distribution expects."""

    def __init__(self, root: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hullscan test tokens")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.bundle = root / "token-root.pem"
        self.bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self.requests: list[tuple[str, str]] = []  # (method, how the client authenticated)
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                service.answer(self, parse_qs(url.query), self.headers.get("Authorization"))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                service.answer(self, form, None)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.realm = f"http://127.0.0.1:{self.httpd.server_port}/token"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(
        self, h: BaseHTTPRequestHandler, params: dict[str, list[str]], authorization: str | None
    ) -> None:
        subject: str | None = None
        if h.command == "POST":
            ok = params.get("grant_type") == ["refresh_token"] and params.get("refresh_token") == [
                REFRESH_TOKEN
            ]
            self.requests.append(("POST", "refresh_token"))
            subject = USER if ok else None
        elif authorization and authorization.startswith("Basic "):
            user, _, pw = base64.b64decode(authorization[6:]).decode().partition(":")
            self.requests.append(("GET", "basic"))
            subject = user if (user, pw) == (USER, PASSWORD) else None
        else:
            self.requests.append(("GET", "anonymous"))
        if subject is None or params.get("service") != [SERVICE]:
            body = b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}'
            h.send_response(401)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        access = []
        for scope in params.get("scope", []):
            for item in scope.split(" "):
                kind, _, rest = item.partition(":")
                repo, _, actions = rest.rpartition(":")
                access.append({"type": kind, "name": repo, "actions": actions.split(",")})
        token = self.jwt(subject, access)
        key = "access_token" if h.command == "POST" else "token"
        body = json.dumps({key: token, "expires_in": 300}).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def jwt(self, subject: str, access: list[dict[str, Any]]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        sig = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(sig)}"


@pytest.fixture(scope="module")
def token_registry(
    tmp_path_factory: pytest.TempPathFactory, layout: Path
) -> Iterator[tuple[str, TokenService]]:
    _need_registry()
    root = tmp_path_factory.mktemp("tokenreg")
    tokens = TokenService(root)
    try:
        reg = start_registry(
            root,
            {
                "token": {
                    "realm": tokens.realm,
                    "service": SERVICE,
                    "issuer": ISSUER,
                    "rootcertbundle": str(tokens.bundle),
                }
            },
        )
        try:
            push(layout, "1", f"{reg.host}/test/app:1", creds=f"{USER}:{PASSWORD}")
            yield reg.host, tokens
        finally:
            stop_registry(reg)
    finally:
        tokens.close()


def test_token_auth_with_password(
    token_registry: tuple[str, TokenService],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host, tokens = token_registry
    ref = f"registry:{host}/test/app:1"
    tokens.requests.clear()
    monkeypatch.setenv("HULLSCAN_PASSWORD", PASSWORD)
    code, out, err = sbom(ref, tmp_path / "ok", capsys, "--username", USER)
    assert code == 0, err
    assert "requests" in out and PASSWORD not in out + err
    assert tokens.requests == [("GET", "basic")]  # one token for the whole pull


def test_token_auth_wrong_password(
    token_registry: tuple[str, TokenService],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host, _ = token_registry
    monkeypatch.setenv("HULLSCAN_PASSWORD", "not-the-pa55word")
    code, out, err = sbom(
        f"registry:{host}/test/app:1", tmp_path / "bad", capsys, "--username", USER
    )
    assert_failed(
        code,
        out,
        err,
        r"test/app: the token service refused the credentials "
        r"from --username/--password \(HTTP 401\)",
        "not-the-pa55word",
    )
    monkeypatch.delenv("HULLSCAN_PASSWORD")
    code, out, err = sbom(f"registry:{host}/test/app:1", tmp_path / "anon", capsys)
    assert_failed(code, out, err, r"the token service refused anonymous access \(HTTP 401\)")
    assert not list((tmp_path / "bad").rglob("sha256/*"))


def test_token_auth_with_identity_token(
    token_registry: tuple[str, TokenService],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host, tokens = token_registry
    tokens.requests.clear()
    write_config(tmp_path / "dc", {"auths": {host: {"identitytoken": REFRESH_TOKEN}}})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "dc"))
    code, out, err = sbom(f"registry:{host}/test/app:1", tmp_path / "c", capsys)
    assert code == 0, err
    assert REFRESH_TOKEN not in out + err
    assert tokens.requests == [("POST", "refresh_token")]
    write_config(tmp_path / "dc", {"auths": {host: {"identitytoken": "stale-refresh-9"}}})
    code, out, err = sbom(f"registry:{host}/test/app:1", tmp_path / "d", capsys)
    assert_failed(
        code, out, err, r"refused the identity token from .*config\.json auths", "stale-refresh-9"
    )


def test_token_auth_with_cred_helper(
    token_registry: tuple[str, TokenService],
    tmp_path: Path,
    isolated: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host, _ = token_registry
    helper(isolated, "test", {host: (USER, PASSWORD)})
    write_config(tmp_path / "dc", {"credHelpers": {host: "test"}})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "dc"))
    code, out, err = sbom(f"registry:{host}/test/app:1", tmp_path / "c", capsys)
    assert code == 0, err
    assert PASSWORD not in out + err
