"""``hullscan server`` and ``hullscan worker``: thin shells over ``hullscan.server`` and
``hullscan.jobs``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hullscan.cachedir import default_cache_dir

if TYPE_CHECKING:  # the server is imported only when it runs: the CLI starts fast
    from hullscan.server.settings import ServerSettings

_COMMON = [
    click.option(
        "--store",
        "store_url",
        metavar="URL",
        envvar="HULLSCAN_STORE",
        help="Result store: sqlite:///PATH (default: under the cache directory) "
        "or postgresql://USER@HOST/DB (shared by servers and workers).",
    ),
    click.option(
        "--queue-name",
        default="hullscan",
        show_default=True,
        help="Celery queue name, so several deployments can share a broker.",
    ),
    click.option(
        "--cache-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Layer cache and database directory (default: $HULLSCAN_CACHE_DIR, "
        "else ~/.cache/hullscan).",
    ),
    click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="HULLSCAN_DB",
        help="Vulnerability database (default: <cache dir>/db/osv.sqlite).",
    ),
    click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Settings file (default: ./hullscan.yaml): server.api_keys, registries, secrets.",
    ),
]


def _common(f: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(_COMMON):
        f = option(f)
    return f


def _parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{text!r}: expected HOST:PORT", param_hint="--listen")
    return host.strip("[]") or "127.0.0.1", int(port)


@click.command()
@click.option(
    "--listen",
    default="127.0.0.1:8080",
    show_default=True,
    metavar="HOST:PORT",
    help="Address to serve. Without API keys only loopback is allowed.",
)
@click.option(
    "--queue",
    "queue_url",
    default="embedded",
    show_default=True,
    metavar="URL",
    envvar="HULLSCAN_QUEUE",
    help="embedded (scans run inside the server), or a Celery broker: "
    "redis://HOST:PORT/N or amqp://USER:PASS@HOST/VHOST (then run "
    "`hullscan worker`).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Scans at a time with the embedded queue.",
)
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Serve HTTPS with this PEM certificate (chain).",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM private key of --tls-cert.",
)
@click.option(
    "--admission-client-ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Admission requests must present a client certificate this PEM CA "
    "signed (the API server's, from its admission configuration's "
    "kubeconfig); other clients need none. Needs --tls-cert.",
)
@click.option(
    "--admission-client-name",
    "admission_client_names",
    multiple=True,
    metavar="NAME",
    help="With --admission-client-ca: the client certificate's "
    "common name must be one of these (repeatable).",
)
@click.option(
    "--rematch-every",
    type=click.FloatRange(min=1),
    metavar="SECONDS",
    help="Check the vulnerability database this often; when `db update` has "
    "brought a new one, rematch every stored inventory (as `fleet "
    "rematch`), so reports and admission follow new advisories. Servers "
    "sharing a store take turns.",
)
@click.option(
    "--hash-key",
    is_flag=True,
    help="Read an API key on standard input, print the hash to put in server.api_keys, and exit.",
)
@_common
def server(
    listen: str,
    queue_url: str,
    workers: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    admission_client_ca: Path | None,
    admission_client_names: tuple[str, ...],
    rematch_every: float | None,
    hash_key: bool,
    store_url: str | None,
    queue_name: str,
    cache_dir: Path | None,
    db_path: Path | None,
    config_file: Path | None,
) -> None:
    """Serve Harbor's Pluggable Scanner API v1.2 and hullscan's REST API.

    \b
    Endpoints:
      /api/v1/metadata, /api/v1/scan, /api/v1/scan/{id}/report   Harbor
      POST /v1/scans, GET /v1/scans/{id}, GET /v1/images/{digest}  hullscan
      POST /v1/admission, /v1/admission/mutate   Kubernetes admission (with TLS;
                                                 the admission: section of hullscan.yaml)
      /ui   pages: scans, images, fleet
      /healthz /readyz /metrics /openapi.json

    \b
    Examples:
      hullscan server                                   # SQLite + worker threads, loopback
      hullscan server --listen 0.0.0.0:8443 --tls-cert c.pem --tls-key k.pem \\
          --store postgresql://hullscan@db/hullscan --queue redis://redis:6379/0
      openssl rand -hex 32 | tee key.txt | hullscan server --hash-key
    """
    from hullscan.server.settings import hash_key as hashed

    if hash_key:
        key = sys.stdin.readline().strip()
        if len(key) < 16:
            raise click.UsageError(
                "--hash-key: an API key of at least 16 characters is expected on standard input"
            )
        click.echo(hashed(key))
        return
    if admission_client_ca is None and admission_client_names:
        raise click.UsageError("--admission-client-name needs --admission-client-ca")
    if admission_client_ca is not None and tls_cert is None:
        raise click.UsageError(
            "--admission-client-ca needs --tls-cert and --tls-key: client "
            "certificates are a part of HTTPS"
        )
    host, port = _parse_listen(listen)
    settings = _settings(
        store_url,
        queue_url,
        queue_name,
        cache_dir,
        db_path,
        config_file,
        host=host,
        port=port,
        workers=workers,
        tls_cert=tls_cert,
        tls_key=tls_key,
        rematch_every=rematch_every,
        admission_client_ca=admission_client_ca,
        admission_client_names=admission_client_names,
    )
    settings.check_listen()
    _serve(settings)


def _settings(
    store_url: str | None,
    queue_url: str,
    queue_name: str,
    cache_dir: Path | None,
    db_path: Path | None,
    config_file: Path | None,
    **extra: object,
) -> ServerSettings:
    from hullscan.jobs.store import default_store_url
    from hullscan.server.settings import ServerSettings, server_section
    from hullscan.settings import CONFIG_FILES, Settings, read_yaml

    if config_file is None:
        config_file = next((Path(p) for p in CONFIG_FILES if Path(p).is_file()), None)
    settings = Settings.load(config_file)
    doc = read_yaml(config_file) if config_file is not None else None
    cache = cache_dir or default_cache_dir()
    section = server_section(
        doc if isinstance(doc, dict) else {}, config_file.parent if config_file else Path(".")
    )
    return ServerSettings(
        cache_dir=cache,
        db_path=db_path or cache / "db" / "osv.sqlite",
        store_url=store_url or default_store_url(cache),
        queue_url=queue_url,
        queue_name=queue_name,
        api_key_hashes=section.api_key_hashes,
        max_body=section.max_body,
        refresh_after=section.refresh_after,
        settings=settings,
        **extra,  # type: ignore[arg-type]
    )


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per registry request


def _serve(settings: ServerSettings) -> None:
    import uvicorn

    from hullscan.jobs.queue import open_queue
    from hullscan.jobs.runner import WorkerContext
    from hullscan.jobs.store import Store
    from hullscan.server.app import create_app
    from hullscan.server.services import Services, admission_webhook

    store = Store(settings.store_url)
    queue = open_queue(
        settings.queue_url,
        settings.queue_name,
        WorkerContext(store, settings.cache_dir, settings.db_path, settings.settings),
        settings.workers,
    )
    svc = Services(settings, store, queue)
    svc.admission = admission_webhook(svc)  # answers over HTTPS only (--tls-cert)
    watcher = None
    if settings.rematch_every is not None:
        from hullscan.fleet.rematch import RematchWatcher

        log = logging.getLogger("hullscan.rematch")
        watcher = RematchWatcher(
            store,
            settings.db_path,
            settings.rematch_every,
            lambda r: log.info(
                "rematch: %d inventories, %d images changed", r.inventories, len(r.changed)
            ),
        )
        watcher.start()
    _logging()
    client_ca: dict[str, Any] = {}
    if settings.admission_client_ca is not None:
        import ssl

        from hullscan.server.tls import client_cert_protocol

        # asked of every client, required by the admission routes only (server.tls)
        client_ca = {
            "ssl_ca_certs": str(settings.admission_client_ca),
            "ssl_cert_reqs": ssl.CERT_OPTIONAL,
            "http": client_cert_protocol(),
        }
    config = uvicorn.Config(
        create_app(svc),
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        timeout_keep_alive=30,
        server_header=False,
        log_level="info",
        **client_ca,
    )
    try:
        uvicorn.Server(config).run()
    finally:
        if watcher is not None:
            watcher.stop()
        if svc.admission is not None:
            svc.admission.close()
        queue.close()
        store.close()


@click.command()
@click.option(
    "--queue",
    "queue_url",
    required=True,
    metavar="URL",
    envvar="HULLSCAN_QUEUE",
    help="Celery broker: redis://HOST:PORT/N or amqp://USER:PASS@HOST/VHOST.",
)
@click.option(
    "--visibility-timeout",
    default=4 * 3600,
    show_default=True,
    type=click.IntRange(10),
    metavar="SECONDS",
    help="Redis only: a job a dead worker held goes to another worker after "
    "this long. Keep it above the longest scan.",
)
@_common
def worker(
    queue_url: str,
    visibility_timeout: int,
    store_url: str | None,
    queue_name: str,
    cache_dir: Path | None,
    db_path: Path | None,
    config_file: Path | None,
) -> None:
    """Run scans from a Celery queue (Redis or RabbitMQ), one at a time.

    Start as many as the machines allow; they share the layer cache and the
    vulnerability database of their machine and the --store of the deployment.

    \b
    Example:
      hullscan worker --queue redis://redis:6379/0 --store postgresql://hullscan@db/hullscan
    """
    from hullscan.jobs.celery_queue import CelerySettings, run_worker
    from hullscan.jobs.queue import check_broker
    from hullscan.jobs.runner import WorkerContext
    from hullscan.jobs.store import Store

    check_broker(queue_url)
    settings = _settings(store_url, queue_url, queue_name, cache_dir, db_path, config_file)
    store = Store(settings.store_url)
    _logging()
    run_worker(
        CelerySettings(queue_url, queue_name, visibility_timeout),
        WorkerContext(store, settings.cache_dir, settings.db_path, settings.settings),
    )
