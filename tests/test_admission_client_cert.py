"""The admission webhook can require the API server's client certificate: ``hullscan
server --admission-client-ca`` over real HTTPS on 127.0.0.1, with certificates made for
the test. Only admission requests need one; a certificate another CA signed ends the
handshake; a name not listed is refused."""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from admissionreviews import pod_spec, review, workload
from localregistry import make_ca
from serverkit import Server, start_server


def _client_ca(root: Path, names: list[str]) -> tuple[Path, dict[str, tuple[str, str]]]:
    """A CA of client certificates (as a cluster's), and a certificate and key per name."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{root.name} client CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    root.mkdir(parents=True, exist_ok=True)
    (root / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    issued = {}
    for name in names:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        (root / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (root / f"{name}-key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        issued[name] = (str(root / f"{name}.pem"), str(root / f"{name}-key.pem"))
    return root / "ca.pem", issued


class Setup:
    def __init__(
        self,
        server: Server,
        server_ca: Path,
        cluster: dict[str, tuple[str, str]],
        foreign: dict[str, tuple[str, str]],
    ) -> None:
        self.server, self.server_ca = server, server_ca
        self.cluster, self.foreign = cluster, foreign

    def post(self, cert: tuple[str, str] | None) -> httpx.Response:
        ctx = ssl.create_default_context(cafile=str(self.server_ca))
        if cert is not None:
            ctx.load_cert_chain(*cert)
        body = review(workload("Pod", pod_spec(["registry.example/app:1"])))
        return httpx.post(f"{self.server.url}/v1/admission", json=body, verify=ctx)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("mtls")
    tls = make_ca(root / "server-tls")
    client_ca, cluster = _client_ca(root / "cluster", ["kube-apiserver", "someone-else"])
    _, foreign = _client_ca(root / "foreign", ["kube-apiserver"])
    server = start_server(
        [
            "--tls-cert",
            str(tls.cert),
            "--tls-key",
            str(tls.key),
            "--admission-client-ca",
            str(client_ca),
            "--admission-client-name",
            "kube-apiserver",
            "--cache-dir",
            str(root / "cache"),
        ],
        root / "server.log",
        scheme="https",
        verify=ssl.create_default_context(cafile=str(tls.ca)),
    )
    try:
        yield Setup(server, tls.ca, cluster, foreign)
    finally:
        server.stop()


def test_the_api_servers_certificate_is_admitted(setup: Setup) -> None:
    answer = setup.post(setup.cluster["kube-apiserver"])
    assert answer.status_code == 200
    assert answer.json()["response"]["uid"]  # judged: an AdmissionReview came back


def test_admission_without_a_certificate_is_refused(setup: Setup) -> None:
    refused = setup.post(None)
    assert refused.status_code == 401 and "client certificate" in refused.text
    # other clients need none: the health check, the API, Harbor
    ctx = ssl.create_default_context(cafile=str(setup.server_ca))
    assert httpx.get(f"{setup.server.url}/healthz", verify=ctx).status_code == 200


def test_a_name_not_listed_is_refused(setup: Setup) -> None:
    refused = setup.post(setup.cluster["someone-else"])
    assert refused.status_code == 403 and "someone-else" in refused.text


def test_a_certificate_another_ca_signed_ends_the_handshake(setup: Setup) -> None:
    with pytest.raises(httpx.HTTPError):
        setup.post(setup.foreign["kube-apiserver"])


def test_the_flags_need_each_other(tmp_path: Path) -> None:
    from hullscan.cli import main

    ca, _ = _client_ca(tmp_path / "cluster", [])
    assert main(["server", "--admission-client-ca", str(ca)]) == 2
    assert main(["server", "--admission-client-name", "kube-apiserver"]) == 2
