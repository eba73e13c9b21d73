"""The secret scanner: every rule fires on a realistic sample and not on a near miss;
filters, masking, the prefilter, user configuration; precision/recall on the corpus."""

from __future__ import annotations

import base64
import io
import json
import random
import string
import tarfile
from collections.abc import Iterator

import pytest

from hullscan.errors import HullscanError
from hullscan.model import FileInfo, FileType, Finding, Severity
from hullscan.paths import normalize
from hullscan.secrets import SecretAnalyzer, SecretEngine, builtin_rules, load_rules, mask
from hullscan.secrets.analyzer import skipped_path

from conftest import CORPUS_DIR

_rng = random.Random(20240611)
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "_-"


def r(n: int, alphabet: str = ALNUM) -> str:
    """A fake token part: deterministic, realistic alphabet, no real credential."""
    return "".join(_rng.choice(alphabet) for _ in range(n))


def pem(label: str, n: int = 900, headers: str = "") -> str:
    body = r(n, B64)
    lines = "\n".join(body[i : i + 64] for i in range(0, n, 64))
    return f"-----BEGIN {label}-----\n{headers}{lines}\n-----END {label}-----\n"


UUID = f"{r(8, HEX)}-{r(4, HEX)}-{r(4, HEX)}-{r(4, HEX)}-{r(12, HEX)}"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    + base64.urlsafe_b64encode(json.dumps({"sub": r(12), "iat": 1700000000}).encode())
    .decode()
    .rstrip("=")
    + "."
    + r(43, URLSAFE)
)
SA_JSON = json.dumps(
    {
        "type": "service_account",
        "project_id": "corp-prod",
        "private_key_id": r(40, HEX),
        "private_key": pem("PRIVATE KEY", 1200),
        "client_email": "ci@corp-prod.iam.gserviceaccount.com",
    },
    indent=2,
)
ENC_PEM = "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC," + r(32, HEX).upper() + "\n\n"
SHA512 = "$6$" + r(16, ALNUM + "./") + "$" + r(86, ALNUM + "./")

# rule id -> (path, positive sample, near-miss negative)
CASES: dict[str, tuple[str | None, str, str]] = {
    "gcp-service-account": (
        "app/sa.json",
        SA_JSON,
        SA_JSON.replace("service_account", "authorized_user").replace("PRIVATE KEY", "CERTIFICATE"),
    ),
    "rsa-private-key": (None, pem("RSA PRIVATE KEY"), pem("RSA PRIVATE KEY", headers=ENC_PEM)),
    "ec-private-key": (
        None,
        pem("EC PRIVATE KEY", 160),
        "-----BEGIN EC PRIVATE KEY-----\n" + r(100, B64) + "\n",
    ),
    "dsa-private-key": (
        None,
        pem("DSA PRIVATE KEY"),
        "-----BEGIN DSA PRIVATE KEY-----\n...\n-----END DSA PRIVATE KEY-----",
    ),
    "openssh-private-key": (
        None,
        pem("OPENSSH PRIVATE KEY"),
        "-----BEGIN OPENSSH PRIVATE KEY-----\n(redacted)\n-----END OPENSSH PRIVATE KEY-----",
    ),
    "pgp-private-key-block": (
        None,
        pem("PGP PRIVATE KEY BLOCK", headers="Version: GnuPG\n\n"),
        pem("PGP PUBLIC KEY BLOCK"),
    ),
    "pkcs8-private-key": (None, pem("PRIVATE KEY"), pem("PUBLIC KEY")),
    "pkcs8-encrypted-private-key": (
        None,
        pem("ENCRYPTED PRIVATE KEY"),
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\n" + r(40, B64),
    ),
    "pem-encrypted-private-key": (
        None,
        pem("RSA PRIVATE KEY", headers=ENC_PEM),
        "Proc-Type: 4,ENCRYPTED\n" + r(200, B64),
    ),
    "putty-private-key": (
        None,
        "PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\n"
        "Comment: k\nPublic-Lines: 1\n"
        + r(60, B64)
        + "\nPrivate-Lines: 2\n"
        + r(64, B64)
        + "\n"
        + r(40, B64)
        + "\nPrivate-MAC: "
        + r(40, HEX),
        "PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nPublic-Lines: 1\n" + r(60, B64) + "\n",
    ),
    "age-secret-key": (
        None,
        "AGE-SECRET-KEY-1" + r(58, "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"),
        "AGE-SECRET-KEY-1" + r(30, "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"),
    ),
    "aws-access-key-id": (
        None,
        "aws_access_key_id = AKIA" + r(16, string.ascii_uppercase + "234567"),
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
    ),
    "aws-secret-access-key": (
        None,
        "aws_secret_access_key = " + r(40, B64),
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    "aws-session-token": (
        None,
        "aws_session_token = " + r(320, B64),
        "aws_session_token = ${AWS_SESSION_TOKEN}",
    ),
    "gcp-api-key": (None, "key: AIza" + r(35, URLSAFE), "key: AIza" + r(20, URLSAFE)),
    "firebase-cloud-messaging-server-key": (
        None,
        "AAAA" + r(7, URLSAFE) + ":APA91b" + r(134, URLSAFE),
        "AAAA" + r(7, URLSAFE) + ":APA91b" + r(40, URLSAFE),
    ),
    "azure-storage-connection-string": (
        None,
        "DefaultEndpointsProtocol=https;AccountName=corpdata;AccountKey="
        + r(86, B64)
        + "==;EndpointSuffix=core.windows.net",
        "DefaultEndpointsProtocol=https;AccountName=corpdata;AccountKey=<account-key>",
    ),
    "azure-storage-account-key": (
        None,
        "AZURE_STORAGE_KEY=" + r(86, B64) + "==",
        "AZURE_STORAGE_KEY=" + r(40, B64),
    ),
    "azure-service-bus-connection-string": (
        None,
        "Endpoint=sb://corp.servicebus.windows.net/;SharedAccessKeyName=Root;"
        "SharedAccessKey=" + r(43, B64) + "=",
        "Endpoint=sb://corp.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=KEY",
    ),
    "azure-ad-client-secret": (
        None,
        'client_secret: "' + r(3) + "8Q~" + r(34, ALNUM + "_~.-") + '"',
        'client_secret: "abc8Q~short"',
    ),
    "github-pat": (None, "token ghp_" + r(36), "token ghp_" + r(20)),
    "github-fine-grained-pat": (None, "github_pat_" + r(22) + "_" + r(59), "github_pat_" + r(30)),
    "github-oauth": (None, "gho_" + r(36), "gho_" + r(30)),
    "github-app-token": (None, "ghs_" + r(36), "ghs_" + r(12)),
    "github-refresh-token": (None, "ghr_" + r(76), "ghr_" + r(20)),
    "gitlab-pat": (None, "glpat-" + r(20, URLSAFE), "glpat-" + r(10)),
    "gitlab-ptt": (None, "glptt-" + r(40, HEX), "glptt-" + r(20, HEX)),
    "gitlab-rrt": (None, "GR1348941" + r(20, URLSAFE), "GR1348941" + r(8)),
    "gitlab-runner-authentication-token": (None, "glrt-" + r(20, URLSAFE), "glrt-" + r(8)),
    "gitlab-deploy-token": (None, "gldt-" + r(20, URLSAFE), "gldt-" + r(8)),
    "slack-bot-token": (
        None,
        "xoxb-" + r(12, string.digits) + "-" + r(13, string.digits) + "-" + r(24),
        "xoxb-123-abc",
    ),
    "slack-user-token": (
        None,
        "xoxp-" + "-".join(r(12, string.digits) for _ in range(3)) + "-" + r(32, HEX),
        "xoxp-" + r(12, string.digits) + "-abc",
    ),
    "slack-app-token": (
        None,
        "xapp-1-A0" + r(9, string.ascii_uppercase) + "-" + r(13, string.digits) + "-" + r(64, HEX),
        "xapp-1-short",
    ),
    "slack-legacy-token": (None, "xoxs-" + r(12, string.digits) + "-" + r(40), "xoxs-abc"),
    "slack-webhook-url": (
        None,
        "https://hooks.slack.com/services/T"
        + r(8, string.ascii_uppercase)
        + "/B"
        + r(8, string.ascii_uppercase)
        + "/"
        + r(24),
        "https://hooks.slack.com/services/T000/B000/XXX",
    ),
    "discord-webhook-url": (
        None,
        "https://discord.com/api/webhooks/" + r(18, string.digits) + "/" + r(68, URLSAFE),
        "https://discord.com/api/webhooks/123/abc",
    ),
    "discord-api-token": (
        None,
        "DISCORD_TOKEN=M" + r(24) + "." + r(6, URLSAFE) + "." + r(27, URLSAFE),
        "discord token: abc.def.ghi",
    ),
    "telegram-bot-api-token": (
        None,
        "bot " + r(9, string.digits) + ":AA" + r(33, URLSAFE),
        "bot " + r(9, string.digits) + ":AB" + r(33, URLSAFE),
    ),
    "stripe-access-token": (None, "STRIPE=sk_live_" + r(24), "STRIPE=sk_test_" + r(24)),
    "square-access-token": (None, "sq0atp-" + r(22, URLSAFE), "sq0atp-" + r(10)),
    "square-secret": (None, "sq0csp-" + r(43, URLSAFE), "sq0csp-" + r(20)),
    "shopify-access-token": (None, "shpat_" + r(32, HEX), "shpat_" + r(16, HEX)),
    "shopify-custom-access-token": (None, "shpca_" + r(32, HEX), "shpca_" + r(16, HEX)),
    "shopify-private-app-access-token": (None, "shppa_" + r(32, HEX), "shppa_" + r(16, HEX)),
    "shopify-shared-secret": (None, "shpss_" + r(32, HEX), "shpss_" + r(16, HEX)),
    "twilio-api-key": (None, "TWILIO_API_KEY=SK" + r(32, HEX), "TWILIO_API_KEY=SK" + r(16, HEX)),
    "twilio-auth-token": (
        None,
        "TWILIO_AUTH_TOKEN=" + r(32, HEX),
        "TWILIO_AUTH_TOKEN=" + r(16, HEX),
    ),
    "sendgrid-api-token": (
        None,
        "SG." + r(22, URLSAFE) + "." + r(43, URLSAFE),
        "SG." + r(22, URLSAFE) + "." + r(10),
    ),
    "mailgun-private-api-token": (
        None,
        "MAILGUN_KEY=key-" + r(32, HEX),
        "mailgun key-" + r(20, HEX),
    ),
    "mailchimp-api-key": (None, r(32, HEX) + "-us12", r(32, HEX) + "-eu12"),
    "heroku-api-key": (None, "HEROKU_API_KEY=" + UUID, "HEROKU_API_KEY=your-api-key-here"),
    "heroku-api-key-v2": (None, "HRKU-AA" + r(58, URLSAFE), "HRKU-AB" + r(58, URLSAFE)),
    "okta-access-token": (None, "OKTA_API_TOKEN=00" + r(40), "OKTA_API_TOKEN=01" + r(40)),
    "atlassian-api-token": (None, "ATATT3" + r(186, URLSAFE), "ATATT3" + r(50)),
    "linear-api-key": (None, "lin_api_" + r(40), "lin_api_" + r(20)),
    "doppler-api-token": (None, "dp.pt." + r(43), "dp.pt." + r(20)),
    "postman-api-token": (None, "PMAK-" + r(24, HEX) + "-" + r(34, HEX), "PMAK-" + r(10, HEX)),
    "dropbox-short-lived-api-token": (
        None,
        "DROPBOX_TOKEN=sl." + r(140, URLSAFE),
        "DROPBOX_TOKEN=sl." + r(20),
    ),
    "dropbox-long-lived-api-token": (
        None,
        "dropbox: " + r(11, HEX) + "AAAAAAAAAA" + r(43, HEX),
        "dropbox: " + r(11, HEX) + "AAAAA" + r(43, HEX),
    ),
    "openai-api-key": (None, "sk-proj-" + r(40) + "T3BlbkFJ" + r(40), "sk-T3BlbkFJ" + r(10)),
    "anthropic-api-key": (
        None,
        "sk-ant-api03-" + r(93, URLSAFE) + "AA",
        "sk-ant-api03-" + r(93, URLSAFE) + "AB",
    ),
    "anthropic-admin-api-key": (
        None,
        "sk-ant-admin01-" + r(93, URLSAFE) + "AA",
        "sk-ant-admin01-" + r(40),
    ),
    "huggingface-access-token": (None, "hf_" + r(34, string.ascii_letters), "hf_" + r(20)),
    "vault-service-token": (None, "VAULT_TOKEN=hvs." + r(95, URLSAFE), "VAULT_TOKEN=hvs." + r(24)),
    "vault-batch-token": (None, "hvb." + r(150, URLSAFE), "hvb." + r(24)),
    "hashicorp-tf-api-token": (
        None,
        r(14) + ".atlasv1." + r(65, URLSAFE),
        r(14) + ".atlasv1." + r(20),
    ),
    "databricks-api-token": (None, "dapi" + r(32, HEX), "dapi" + r(16, HEX)),
    "digitalocean-pat": (None, "dop_v1_" + r(64, HEX), "dop_v1_" + r(32, HEX)),
    "digitalocean-access-token": (None, "doo_v1_" + r(64, HEX), "doo_v1_" + r(32, HEX)),
    "digitalocean-refresh-token": (None, "dor_v1_" + r(64, HEX), "dor_v1_" + r(32, HEX)),
    "grafana-api-key": (None, "eyJrIjoi" + r(80), "eyJrIjoi" + r(20)),
    "grafana-cloud-api-token": (None, "glc_" + r(48), "glc_" + r(10)),
    "grafana-service-account-token": (None, "glsa_" + r(32) + "_" + r(8, HEX), "glsa_" + r(32)),
    "new-relic-user-api-key": (
        None,
        "NRAK-" + r(27, string.ascii_uppercase + string.digits),
        "NRAK-" + r(10, string.ascii_uppercase),
    ),
    "new-relic-insert-key": (None, "NRII-" + r(32, URLSAFE), "NRII-" + r(10)),
    "new-relic-browser-api-token": (None, "NRJS-" + r(19, HEX), "NRJS-" + r(10, HEX)),
    "sentry-dsn-secret": (
        None,
        "https://" + r(32, HEX) + ":" + r(32, HEX) + "@o1.ingest.sentry.io/4",
        "https://" + r(32, HEX) + "@o1.ingest.sentry.io/4",
    ),
    "sentry-org-token": (None, "sntrys_eyJpYXQiO" + r(120, B64), "sntrys_abc"),
    "sentry-user-token": (None, "sntryu_" + r(64, HEX), "sntryu_" + r(32, HEX)),
    "pulumi-api-token": (None, "pul-" + r(40, HEX), "pul-" + r(20, HEX)),
    "dockerhub-pat": (None, "dckr_pat_" + r(27, URLSAFE), "dckr_pat_" + r(10)),
    "npm-access-token": (None, "NPM_TOKEN=npm_" + r(36), "npm_config_cache=/tmp/npm"),
    "npmrc-auth-token": (
        None,
        "//registry.npmjs.org/:_authToken=" + UUID,
        "//registry.npmjs.org/:_authToken=${NPM_TOKEN}",
    ),
    "npmrc-auth": (
        "root/.npmrc",
        "_auth=" + base64.b64encode(f"ci:{r(16)}".encode()).decode(),
        "_auth=${NPM_AUTH}",
    ),
    "pypi-upload-token": (
        None,
        "pypi-AgEIcHlwaS5vcmc" + r(70, URLSAFE),
        "pypi-AgEIcHlwaS5vcmc" + r(9),
    ),
    "pypirc-password": (
        "root/.pypirc",
        "[pypi]\nusername = bob\npassword = " + r(16),
        "[pypi]\nusername = bob\npassword = changeme",
    ),
    "docker-config-auth": (
        "root/.docker/config.json",
        '{"auths": {"reg.corp": {"auth": "'
        + base64.b64encode(f"ci:{r(20)}".encode()).decode()
        + '"}}}',
        '{"auths": {"reg.corp": {"auth": ""}}}',
    ),
    "docker-config-identity-token": (
        "root/.docker/config.json",
        '{"auths": {"r": {"identitytoken": "' + r(40) + '"}}}',
        '{"auths": {"r": {"identitytoken": "short"}}}',
    ),
    "kubeconfig-token": (
        "root/.kube/config",
        "users:\n- name: ci\n  user:\n    token: " + r(60),
        "users:\n- name: ci\n  user:\n    token: <token>",
    ),
    "kubeconfig-client-key-data": (
        None,
        "    client-key-data: " + r(300, B64) + "==",
        "    client-key-data: REDACTED",
    ),
    "jwt": (None, "Authorization: Bearer " + JWT, "token: eyJhbGciOiJub25lIn0.e30."),
    "postgres-connection-string": (
        None,
        "DATABASE_URL=postgres://app:" + r(16) + "@db.internal:5432/a",
        "DATABASE_URL=postgres://user:password@localhost/db",
    ),
    "mysql-connection-string": (
        None,
        "mysql+pymysql://app:" + r(16) + "@db.internal/app",
        "mysql://app:${DB_PASS}@db.internal/app",
    ),
    "mongodb-connection-string": (
        None,
        "mongodb+srv://app:" + r(16) + "@cluster0.mongodb.net/x",
        "mongodb://app:changeme@localhost/x",
    ),
    "redis-connection-string": (
        None,
        "REDIS_URL=redis://:" + r(16) + "@cache.internal:6379/0",
        "REDIS_URL=redis://cache.internal:6379/0",
    ),
    "amqp-connection-string": (
        None,
        "amqp://app:" + r(16) + "@mq.internal:5672/",
        "amqp://guest:guest@localhost:5672/",
    ),
    "git-credentials": (
        "root/.git-credentials",
        "https://ci:" + r(20) + "@gitlab.com\n",
        "https://gitlab.com\n",
    ),
    "netrc-password": (
        "root/.netrc",
        "machine api.corp.net login bob password " + r(16),
        "machine api.corp.net login bob password changeme",
    ),
    "pgpass-password": (
        "root/.pgpass",
        "db.internal:5432:app:app:" + r(16) + "\n",
        "# hostname:port:database:username:password\n",
    ),
    "mysql-config-password": (
        "root/.my.cnf",
        "[client]\nuser=root\npassword=" + r(14),
        "[client]\nuser=root\npassword=$MYSQL_PASSWORD",
    ),
    "linux-shadow-password-hash": (
        "etc/shadow",
        f"root:{SHA512}:19700:0:99999:7:::\n",
        f"root:*:19700:0:99999:7:::\nbin:!:19700::::::\n"
        f"x:!!:19700::::::\nnobody::19700::::::\n"
        f"old:!{SHA512}:19700::::::\n",
    ),
    "htpasswd-hash": (
        "etc/nginx/.htpasswd",
        "admin:$apr1$" + r(8) + "$" + r(22, ALNUM + "./"),
        "admin:{SHA}tooshort",
    ),
    "mysql-cli-password": (
        None,
        "mysql -h db -u root -p" + r(14) + " appdb",
        "mysql -h db -u root -p appdb",
    ),
    "cli-password-flag": (None, "app --password=" + r(14), "use the --password option"),
    "pgpassword-env": (None, "PGPASSWORD=" + r(14) + " psql -h db", "PGPASSWORD=$DB_PASS psql"),
    "curl-basic-auth": (
        None,
        "curl -u bob:" + r(14) + " https://api.corp.net",
        "curl -u $USER:$PASS https://api.corp.net",
    ),
    "sshpass-password": (None, "sshpass -p " + r(14) + " ssh host", "sshpass -p $PASS ssh host"),
    "shell-history-secret-export": (
        "root/.bash_history",
        "export API_TOKEN=" + r(24),
        "export API_TOKEN=$(vault read -field=t kv/ci)",
    ),
    "url-basic-auth": (
        "app/config.yaml",
        "proxy: http://bob:" + r(14) + "@proxy.corp.net:3128",
        "proxy: http://user:password@proxy.corp.net:3128",
    ),
    "generic-password": ("app/.env", "DB_PASSWORD=" + r(18), "DB_PASSWORD=changeme123"),
    "generic-api-key": ("app/config.yaml", "api_key: " + r(32), "api_key: your_api_key_here"),
}


@pytest.fixture(scope="module")
def engine() -> SecretEngine:
    return SecretEngine(load_rules())


def ids(engine: SecretEngine, text: str, path: str | None) -> set[str]:
    return {m.rule.id for m in engine.scan_text(text, path)}


def test_rule_file_is_complete_and_valid() -> None:
    rules = builtin_rules()
    assert len(rules) >= 60
    assert {r.id for r in rules} == set(CASES), "every rule needs a positive and a negative"
    for rule in rules:
        assert rule.keywords and all(k == k.lower() for k in rule.keywords)
        assert rule.regex.groups == 1 and "secret" in rule.regex.groupindex


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_positive_and_near_miss(engine: SecretEngine, rule_id: str) -> None:
    path, positive, negative = CASES[rule_id]
    matches = [m for m in engine.scan_text(positive, path) if m.rule.id == rule_id]
    assert matches, f"{rule_id} missed its sample"
    for m in matches:
        assert m.secret and m.secret not in m.masked and m.secret not in repr(m)
    assert rule_id not in ids(engine, negative, path), f"{rule_id} fired on its near miss"


@pytest.mark.parametrize("rule_id", sorted(i for i, c in CASES.items() if c[0] is not None))
def test_path_rules_only_apply_to_their_paths(engine: SecretEngine, rule_id: str) -> None:
    rule = next(r for r in builtin_rules() if r.id == rule_id)
    if rule.path is None:  # a path-free rule tested with a realistic path
        return
    assert rule_id not in ids(engine, CASES[rule_id][1], "usr/lib/app/notes.txt")


def test_line_numbers_and_one_report_per_span(engine: SecretEngine) -> None:
    token = "ghp_" + r(36)
    text = f'# settings\nDEBUG = False\nGITHUB_TOKEN = "{token}"\n'
    (m,) = engine.scan_text(text, "app/settings.py")
    assert (m.rule.id, m.line, m.secret) == ("github-pat", 3, token)
    key = pem("RSA PRIVATE KEY")
    (k,) = engine.scan_text("x\n\n" + key, "k.pem")
    assert k.line == 3


@pytest.mark.parametrize("n", range(0, 120))
def test_mask_never_reveals_too_much(n: int) -> None:
    secret = r(n)
    masked = mask(secret)
    shown = masked.replace("*", "")
    assert len(shown) <= min(8, n // 3)
    if n < 12:
        assert not shown
    else:
        head = masked[: len(masked) - len(masked.lstrip("*"))] or masked.split("*", 1)[0]
        assert secret.startswith(head)
        assert secret.endswith(masked.rsplit("*", 1)[1])
    assert len(masked) <= 24


@pytest.mark.parametrize(
    "value",
    [
        "changeme",
        "${DB_PASSWORD}",
        "<password>",
        "your_password",
        "dummy-secret-1",
        "test1234",
        "null",
        "true",
        "false",
        "''",
        "xxxxxxxxxxxx",
        "{{ vault_db_password }}",
        "$DB_PASSWORD",
        "example-password",
        "os.environ.get",
        "get_password()",
        "/run/secrets/db_password",
        "PLEASE_CHANGE_THIS",
        "********",
    ],
)
def test_stop_words_and_placeholders_do_not_fire(engine: SecretEngine, value: str) -> None:
    for text in (
        f"DB_PASSWORD={value}\n",
        f"api_secret: {value}\n",
        f'{{"password": "{value}"}}\n',
    ):
        assert not engine.scan_text(text, "app/config.yaml"), text


def test_shadow_locked_and_empty_accounts_do_not_fire(engine: SecretEngine) -> None:
    text = (
        "root:*:19700:0:99999:7:::\ndaemon:*:19700:0:99999:7:::\nsvc:!:19700::::::\n"
        "old:!!:19700::::::\nnopw::19700::::::\n"
    )
    assert not engine.scan_text(text, "etc/shadow")
    real = engine.scan_text(text + f"app:{SHA512}:19700::::::\n", "etc/shadow")
    assert [(m.rule.id, m.line) for m in real] == [("linux-shadow-password-hash", 6)]


def test_documentation_aws_pair_is_allowlisted(engine: SecretEngine) -> None:
    text = (
        "[docs]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
    )
    assert not engine.scan_text(text, "root/.aws/credentials")


def test_prefilter_limits_regex_runs() -> None:
    engine = SecretEngine(load_rules())
    engine.scan_text("nothing to see here\n" * 1000, "etc/motd")
    assert engine.regex_runs == 0
    engine.scan_text("token ghp_" + r(36), "etc/motd")
    assert engine.regex_runs == 1
    before = engine.regex_runs
    engine.scan_text("db.internal:5432:app:app:" + r(16), "root/.pgpass")  # path-gated rule
    assert engine.regex_runs - before == 1
    assert len(engine.rules) > 60


def test_user_rules_disable_and_allowlist() -> None:
    config = {
        "secrets": {
            "rules": [
                {
                    "id": "corp-internal-token",
                    "title": "Corp token",
                    "severity": "HIGH",
                    "category": "corp",
                    "keywords": ["corp_"],
                    "regex": r"(?P<secret>corp_[a-z0-9]{24})",
                }
            ],
            "disable": ["jwt"],
            "allowlist": {
                "paths": [r"^app/fixtures/"],
                "regexes": [r"^ghp_0000"],
                "stopwords": ["localdev"],
            },
        }
    }
    engine = SecretEngine(load_rules(config["secrets"]))
    corp = "corp_" + r(24, string.ascii_lowercase + string.digits)
    assert [(m.rule.id, m.rule.severity) for m in engine.scan_text(corp)] == [
        ("corp-internal-token", Severity.HIGH)
    ]
    assert not engine.scan_text("Bearer " + JWT)
    assert not engine.scan_text("ghp_" + r(36), "app/fixtures/x.txt")
    assert not engine.scan_text("ghp_0000" + r(32))
    assert not engine.scan_text("DB_PASSWORD=localdev" + r(10), "app/.env")
    assert engine.scan_text("ghp_" + r(36), "app/x.txt")


def test_user_rule_replaces_builtin_by_id() -> None:
    rs = load_rules(
        {
            "rules": [
                {
                    "id": "jwt",
                    "severity": "LOW",
                    "keywords": ["eyj"],
                    "regex": r"(?P<secret>eyJ[\w.-]{40,})",
                }
            ]
        }
    )
    (jwt,) = [x for x in rs.rules if x.id == "jwt"]
    assert jwt.severity is Severity.LOW and len(rs.rules) == len(builtin_rules())


@pytest.mark.parametrize(
    "rule, message",
    [
        ({"id": "bad", "keywords": ["x"], "regex": "(?P<secret>[a-"}, "'bad'"),
        ({"id": "two-groups", "keywords": ["x"], "regex": "(a)(?P<secret>b)"}, "exactly one"),
        ({"id": "no-keywords", "keywords": [], "regex": "(?P<secret>b)"}, "keywords"),
        ({"id": "upper-kw", "keywords": ["ABC"], "regex": "(?P<secret>b)"}, "lowercase"),
        ({"id": "Bad_Id", "keywords": ["x"], "regex": "(?P<secret>b)"}, "kebab-case"),
        (
            {"id": "sev", "keywords": ["x"], "regex": "(?P<secret>b)", "severity": "URGENT"},
            "severity",
        ),
        ({"id": "bad-path", "keywords": ["x"], "regex": "(?P<secret>b)", "path": "("}, "bad-path"),
    ],
)
def test_bad_user_rule_is_a_clear_error(rule: dict[str, object], message: str) -> None:
    with pytest.raises(HullscanError, match=message):
        load_rules({"rules": [rule]})


def test_bad_allowlist_and_disable_are_errors() -> None:
    with pytest.raises(HullscanError, match="allowlist"):
        load_rules({"allowlist": {"regexes": ["(["]}})
    with pytest.raises(HullscanError, match="no-such-rule"):
        load_rules({"disable": ["no-such-rule"]})


# ----------------------------------------------------------------------------- analyzer


def finfo(path: str, size: int) -> FileInfo:
    return FileInfo(path, FileType.REG, size, 0o644)


@pytest.mark.parametrize(
    "path",
    [
        "usr/share/doc/openssl/README",
        "usr/share/man/man1/ls.1.gz",
        "usr/share/zoneinfo/UTC",
        "usr/lib/x86_64-linux-gnu/libssl.so.3",
        "var/lib/dpkg/info/bash.md5sums",
        "app/venv/lib/python3.11/site-packages/pip-23.0.dist-info/RECORD",
        "app/node_modules/axios/dist/axios.min.js.map",
        "etc/ssl/certs/ca-certificates.crt",
        "usr/share/ca-certificates/mozilla/X.crt",
        "app/venv/lib/python3.11/site-packages/certifi/cacert.pem",
        "etc/pki/tls/certs/ca-bundle.crt",
        "app/logo.png",
        "opt/lib/libfoo.so",
        "app/x.pyc",
        "usr/lib/python3/dist-packages/cryptography/hazmat/tests/key.pem",
        "app/node_modules/jsonwebtoken/test/priv.pem",
        "root/go/pkg/mod/x/y@v1/testdata/k.pem",
        "usr/local/lib/python3.11/test/certdata/keycert.pem",
        "app/venv/lib/python3.11/site-packages/boto3/README.md",
    ],
)
def test_analyzer_skips_paths(path: str) -> None:
    assert skipped_path(path)
    assert not SecretAnalyzer().required(path, finfo(path, 100))


@pytest.mark.parametrize(
    "path",
    [
        "root/.aws/credentials",
        "app/.env",
        "etc/ssl/private/server.key",
        "app/tests/.env",
        "tmp/build/deploy_key.pem",
        "etc/shadow",
    ],
)
def test_analyzer_reads_app_paths(path: str) -> None:
    a = SecretAnalyzer(max_size=1024)
    assert a.required(path, finfo(path, 100))
    assert not a.required(path, finfo(path, 2048))
    assert not a.required(path, FileInfo(path, FileType.SYMLINK, 0))


def test_analyzer_findings() -> None:
    token = "ghp_" + r(36)
    data = f"x = 1\nGITHUB_TOKEN = '{token}'\n".encode()
    a = SecretAnalyzer()
    res = a.analyze("app/settings.py", finfo("app/settings.py", len(data)), io.BytesIO(data))
    assert res is not None
    (f,) = res.findings
    assert isinstance(f, Finding)
    assert (f.kind, f.id, f.severity, f.path, f.line, f.layer) == (
        "secret",
        "github-pat",
        Severity.CRITICAL,
        "app/settings.py",
        2,
        None,
    )
    assert token not in json.dumps(f.to_dict())
    assert f.details["category"] == "github" and f.evidence == f.details["match"]
    binary = b"\x7fELF\0\0" + data
    assert a.analyze("usr/bin/x", finfo("usr/bin/x", len(binary)), io.BytesIO(binary)) is None


def test_analyzer_leaves_generic_rules_out_of_third_party_packages() -> None:
    data = b"repo_token: " + r(32).encode() + b"\n"
    a = SecretAnalyzer()
    pkg = "app/node_modules/debug/.coveralls.yml"
    assert a.analyze(pkg, finfo(pkg, len(data)), io.BytesIO(data)) is None
    res = a.analyze("app/.coveralls.yml", finfo("app/.coveralls.yml", len(data)), io.BytesIO(data))
    assert res is not None and res.findings[0].id == "generic-api-key"


# ----------------------------------------------------------------------------- corpus


def _layer_files(image: str) -> Iterator[tuple[int, str, FileInfo, io.BufferedReader]]:
    archive = CORPUS_DIR / image / "docker-archive.tar"
    if not (CORPUS_DIR / image / "truth.json").exists() or not archive.exists():
        pytest.skip(f"corpus image {image} not built (see ../shared/corpus/build.sh)")
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        for index, name in enumerate(manifest[0]["Layers"]):
            layer = outer.extractfile(name)
            assert layer is not None
            with tarfile.open(fileobj=layer, mode="r|") as tf:
                for m in tf:
                    if not m.isreg():
                        continue
                    path = normalize(m.name)
                    stream = tf.extractfile(m)
                    assert stream is not None
                    yield index, path, finfo(path, m.size), stream  # type: ignore[misc]


def _scan_corpus(image: str) -> list[tuple[int, Finding]]:
    a = SecretAnalyzer()
    out = []
    for index, path, info, stream in _layer_files(image):
        if a.required(path, info):
            res = a.analyze(path, info, stream)
            out += [(index, f) for f in (res.findings if res else [])]
    return out


@pytest.mark.corpus
def test_corpus_debian_base_has_no_secrets() -> None:
    findings = _scan_corpus("debian-bookworm")
    assert not [(f.path, f.id, f.line) for _, f in findings]


#: truth.json kind -> acceptable rule categories
TRUTH_CATEGORIES = {
    "private-key": {"private-key"},
    "aws": {"aws"},
    "password": {"generic", "command-line", "database"},
    "django-secret-key": {"generic"},
    "stripe-secret-key": {"stripe"},
    "github-pat": {"github"},
    "slack-bot-token": {"slack"},
    "docker-registry-auth": {"docker"},
}


@pytest.mark.corpus
def test_corpus_planted_secrets_are_found() -> None:
    truth_file = CORPUS_DIR / "secrets-and-misconfig" / "truth.json"
    findings = _scan_corpus("secrets-and-misconfig")
    if not truth_file.exists():
        pytest.skip("corpus not built")
    truth = json.loads(truth_file.read_text())
    found = {(f.path, f.details["category"]) for _, f in findings}
    missed = []
    for s in truth["secrets"]:
        if s["path"].startswith("<") or "where" in s or "documentation-example" in s["kind"]:
            continue  # config/history secrets are not files; the docs pair is allow-listed
        kind = s["kind"].split("/")[0]
        key = kind if kind in TRUTH_CATEGORIES else kind.split("-")[0]
        cats = TRUTH_CATEGORIES[key]
        if not any((s["path"].lstrip("/"), c) in found for c in cats):
            missed.append((s["path"], s["kind"]))
    assert not missed
    # nothing but the planted files: precision on the whole image
    planted = {s["path"].lstrip("/") for s in truth["secrets"]}
    assert {f.path for _, f in findings} <= planted


def test_hostile_text_scans_in_linear_time(engine: SecretEngine) -> None:
    import time

    hostile = (
        "-----BEGIN RSA PRIVATE KEY-----\n" * 20000
        + "mysql -u x " * 20000
        + ("password=" + "a" * 50 + " ") * 5000
        + "http://"
        + "u" * 100000
    )
    start = time.perf_counter()
    engine.scan_text(hostile, "app/.env")
    assert time.perf_counter() - start < 5


# --- the keyword prefilter ------------------------------------------------------------


@pytest.mark.parametrize("use_hyperscan", [True, False], ids=["hyperscan", "ahocorasick"])
def test_keyword_index_finds_each_keyword_once_ignoring_ascii_case(use_hyperscan: bool) -> None:
    import pickle

    from hullscan.secrets.keywords import KeywordIndex, hyperscan

    if use_hyperscan and hyperscan is None:
        pytest.skip("no hyperscan wheel for this platform")
    index = KeywordIndex(
        ["ghp_", "aws_secret", "-----begin", "a.b*c", "pässwort"], use_hyperscan=use_hyperscan
    )
    data = ("x GHP_abc ghp_def AWS_Secret=1 -----BEGIN RSA a.b*c PÄSSWORT axb\n" * 50).encode()
    assert index.find(data) == {0, 1, 2, 3, 4}
    assert index.find(b"ghp aws-secret a.bxc pass") == set()  # literal, not a pattern
    assert index.find(b"") == set()
    assert index.find(b"\xff\xfe ghp_\x00 binary") == {0}
    # analyzers travel to worker processes: the index rebuilds itself there
    assert pickle.loads(pickle.dumps(index)).find(data) == {0, 1, 2, 3, 4}


def test_files_without_any_keyword_are_not_decoded() -> None:
    engine = SecretEngine(load_rules(None))
    assert not engine.worth_decoding(b"plain text with nothing to report\n" * 100, "etc/motd")
    assert engine.worth_decoding(b"token: ghp_" + b"a" * 36, "etc/motd")
    # rules gated by their path still see files without shared keywords
    assert engine.worth_decoding(b"host:5432:db:user:pw\n", "root/.pgpass")
