"""Every setting the service reads, declared once with its default, type and meaning.

Settings come from, in order: these defaults, `instance/config.py` (optional), environment
variables prefixed `GOVERNANCE_`, then the test configuration. A misspelt or malformed setting
stops start-up with a message naming it: a privacy service must not run on a setting it
silently ignored.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import runpy
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
ENV_PREFIX = "GOVERNANCE_"
# Variables that share the prefix but configure the test and CLI harness, not the app.
# GOVERNANCE_RELIABILITY=full is set by `make reliability` for the test process (and the
# servers it starts); without it here every app refused to start in that run. Likewise
# GOVERNANCE_TEST_WORKER_OFFSET, set for the second of two test runs side by side.
HARNESS_VARIABLES = {
    "GOVERNANCE_TEST_DATABASE_URL",
    "GOVERNANCE_INSTANCE_PATH",
    "GOVERNANCE_TEST_REDIS_URL",
    "GOVERNANCE_TEST_WORKER_OFFSET",
    "GOVERNANCE_RELIABILITY",
}


SECRET_KEY_MIN_BYTES = 32
# The settings naming each key ring's current key file (governance/kernel/keys.py).
KEY_FILE_SETTINGS = {"audit": "AUDIT_KEY_FILE", "data": "DATA_KEY_FILE"}


class ConfigError(Exception):
    """A setting is unknown or its value is invalid; start-up stops."""


def _parse_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def _parse_positive_int(raw: object) -> int:
    value = int(str(raw).strip()) if not isinstance(raw, int) else raw
    if isinstance(value, bool) or value < 1:
        raise ValueError("expected a whole number of at least 1")
    return value


def _parse_auto_bool(raw: object) -> bool | None:
    """true, false, or auto (None): decided from another setting at start-up."""
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in {"", "auto"}):
        return None
    return _parse_bool(raw)


def _parse_count(raw: object) -> int:
    value = int(str(raw).strip()) if not isinstance(raw, int) else raw
    if isinstance(value, bool) or value < 0:
        raise ValueError("expected a whole number of at least 0")
    return value


def _parse_rate_limit_storage(raw: object) -> str:
    url = _parse_text(raw)
    if not url.startswith(("memory://", "redis://", "rediss://")):
        raise ValueError("expected memory:// or redis://HOST:PORT/DB")
    return url


def _parse_engine(raw: object) -> str:
    engine = _parse_text(raw).strip().lower()
    if engine not in {"auto", "pandas", "duckdb", "spark"}:
        raise ValueError("expected auto, pandas, duckdb or spark")
    return engine


def _parse_text(raw: object) -> str:
    if not isinstance(raw, str):
        raise ValueError("expected text")
    return raw


def _parse_secret_key(raw: object) -> str:
    secret = _parse_text(raw)
    # 32 bytes is the strength of the generated key; a short configured secret lets anyone who
    # guesses it forge sessions and CSRF tokens.
    if secret and len(secret.encode()) < SECRET_KEY_MIN_BYTES:
        raise ValueError(
            f"a configured SECRET_KEY must be at least {SECRET_KEY_MIN_BYTES} "
            f"bytes (it is {len(secret.encode())}); use e.g. `python -c 'import "
            "secrets; print(secrets.token_hex(32))'`, or leave it empty to use "
            "the generated instance/secret_key"
        )
    return secret


def _parse_metrics_token(raw: object) -> str:
    token = _parse_text(raw)
    # A guessable token would open the operators' figures to anyone who can reach the port.
    if token and len(token.encode()) < SECRET_KEY_MIN_BYTES:
        raise ValueError(f"a METRICS_TOKEN must be at least {SECRET_KEY_MIN_BYTES} bytes")
    return token


def _parse_database_url(raw: object) -> str:
    url = _parse_text(raw)
    if url and not url.startswith(("sqlite:", "postgresql")):
        raise ValueError("expected a sqlite:/// or postgresql+psycopg:// URL")
    return url


def _parse_queue_url(raw: object) -> str:
    url = _parse_text(raw)
    if url and not url.startswith(("sqlite:", "redis:", "memory:")):
        raise ValueError("expected sqlite:///PATH, redis://HOST:PORT/DB or memory:")
    return url


def _parse_passport_algorithm(raw: object) -> str:
    algorithm = _parse_text(raw).strip().upper()
    if algorithm not in {"ES256", "RS256"}:
        raise ValueError("expected ES256 or RS256")
    return algorithm


# A visa is a bearer credential that another system trusts without asking us: short lifetimes
# are what make revocation bite (docs/standards.md).
MAX_VISA_MINUTES = 24 * 60


def _parse_visa_minutes(raw: object) -> int:
    minutes = _parse_positive_int(raw)
    if minutes > MAX_VISA_MINUTES:
        raise ValueError(f"expected at most {MAX_VISA_MINUTES} minutes (one day)")
    return minutes


# Working days are not modelled: a service level is calendar days from the task's arrival.
DEFAULT_SERVICE_LEVELS: dict[str, int] = {
    "default": 7,
    "Request to review": 5,
    "Identifiers to approve": 5,
    "Request to revise": 14,
    "Agreement to review": 10,
    "Agreement returned with comments": 14,
    # The provider signs in its own time: the officer chases it within two weeks.
    "Countersignature to record": 14,
    "Output to check": 5,
    "Destruction to certify": 30,
    "Training to renew": 30,
    "Vote": 7,
    "Answer a reminder": 2,
}


def _parse_service_levels(raw: object) -> dict[str, int]:
    """Days per task kind, as a mapping or JSON text; kinds not named keep their default."""
    levels = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(levels, dict):
        raise ValueError('expected a mapping of task kind to days, e.g. {"Request to review": 5}')
    return {
        **DEFAULT_SERVICE_LEVELS,
        **{str(kind): _parse_positive_int(days) for kind, days in levels.items()},
    }


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    parse: Callable[[object], Any]
    help: str
    # A secret's value is never repeated in an error message.
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATABASE_URL",
        "",
        _parse_database_url,
        "SQLAlchemy URL; empty means SQLite at instance/governance.kernel.db.",
    ),
    Setting(
        "SECRET_KEY",
        "",
        _parse_secret_key,
        "Signs sessions and CSRF tokens (at least 32 bytes); empty means generated into "
        "instance/secret_key.",
        secret=True,
    ),
    Setting(
        "SESSION_COOKIE_SECURE",
        "auto",
        _parse_auto_bool,
        "Send the session cookie over HTTPS only; auto: true unless BASE_URL is plain "
        "HTTP on a loopback address (the local demo).",
    ),
    Setting("PASSWORD_MIN_LENGTH", 12, _parse_positive_int, "Shortest password accepted."),
    Setting(
        "LOCKOUT_THRESHOLD", 5, _parse_positive_int, "Failed logins in a row that lock an account."
    ),
    Setting(
        "LOCKOUT_MINUTES",
        15,
        _parse_positive_int,
        "How long a locked account stays locked, and the period in which failures count.",
    ),
    Setting(
        "LOGIN_FAILURES_PER_ADDRESS",
        20,
        _parse_positive_int,
        "Failed logins from one client address, for any accounts, within LOCKOUT_MINUTES "
        "before that address is refused (429) until the period has passed. From one "
        "address, one account is refused after LOCKOUT_THRESHOLD - 1 failures, so an "
        "attacker meets the throttle before the account locks.",
    ),
    Setting(
        "RATELIMIT_STORAGE_URL",
        "memory://",
        _parse_rate_limit_storage,
        "Where login throttling counts attempts: memory:// (each server process counts "
        "alone; see SERVER_PROCESSES) or redis://HOST:PORT/DB (shared by every process "
        "and host: production).",
    ),
    Setting(
        "METRICS_TOKEN",
        "",
        _parse_metrics_token,
        "Bearer token Prometheus sends to scrape /metrics (at least 32 bytes); empty means "
        "the endpoint answers 404 (docs/metrics.md).",
        secret=True,
    ),
    Setting(
        "SERVER_PROCESSES",
        1,
        _parse_positive_int,
        "Server processes answering requests; `governance serve` sets it to --workers. "
        "With memory:// throttle storage each process counts alone, so each allows only "
        "its share of the login limits.",
    ),
    Setting(
        "PROXY_COUNT",
        0,
        _parse_count,
        "Reverse proxies in front of the server whose X-Forwarded-For and "
        "X-Forwarded-Proto to trust; 0 uses the connecting address (no proxy).",
    ),
    Setting(
        "ACCOUNT_LINK_HOURS",
        24,
        _parse_positive_int,
        "How long an e-mailed password-reset or unlock link works (once).",
    ),
    Setting(
        "ADMIN_SECOND_FACTOR_REQUIRED",
        True,
        _parse_bool,
        "Administrators with a local password must set up a second factor (TOTP) before "
        "anything else after logging in.",
    ),
    Setting(
        "IDENTITY_PROVIDERS_FILE",
        "",
        _parse_text,
        "TOML file listing the single sign-on providers (OpenID Connect) people may sign in "
        "with; empty means instance/identity_providers.toml, and no file means none "
        "(docs/identity.md).",
    ),
    Setting(
        "OIDC_CLOCK_SKEW_SECONDS",
        60,
        _parse_count,
        "Clock difference allowed when checking an ID token's expiry and issue time.",
    ),
    Setting(
        "OIDC_METADATA_CACHE_SECONDS",
        3600,
        _parse_positive_int,
        "How long a provider's discovery document and signing keys (JWKS) are kept; an "
        "unknown key id fetches the keys again at once (key rotation).",
    ),
    Setting("MAX_UPLOAD_MB", 200, _parse_positive_int, "Largest dataset upload accepted."),
    Setting(
        "ATTACHMENT_MAX_MB",
        20,
        _parse_positive_int,
        "Largest agreement attachment accepted (signed scans, ethics letters, plans).",
    ),
    Setting(
        "ATTACHMENT_TYPES",
        "pdf,png,jpeg,docx,txt",
        _parse_text,
        "File types accepted as agreement attachments, comma-separated, among pdf, png, "
        "jpeg, docx and txt; the content must match the declared type.",
    ),
    Setting(
        "MAX_UPLOAD_ROWS",
        20_000_000,
        _parse_positive_int,
        "Most rows one dataset upload may hold (a small compressed file can hold millions).",
    ),
    Setting(
        "DATA_DIR",
        "",
        _parse_text,
        "Where encrypted dataset files live; empty means instance/data.",
    ),
    Setting(
        "DATA_KEY_FILE",
        "",
        _parse_text,
        "Current master key wrapping each stored file's own key; empty means "
        "instance/data.key. Created by `governance init`; retired keys sit in "
        "<file>.retired/.",
    ),
    Setting(
        "AUDIT_KEY_FILE",
        "",
        _parse_text,
        "Current key signing audit checkpoints; empty means instance/audit.key. Created by "
        "`governance init`; retired keys sit in <file>.retired/.",
    ),
    Setting(
        "AUDIT_CHECKPOINT_EVERY",
        1000,
        _parse_positive_int,
        "Sign a checkpoint of the audit chain at least every this many events.",
    ),
    Setting(
        "AUDIT_CHECKPOINT_MINUTES",
        10,
        _parse_positive_int,
        "... and at least this often while events are being written.",
    ),
    Setting(
        "AUDIT_TSA_URL",
        "",
        _parse_text,
        "An RFC 3161 time-stamping authority (http(s) URL) that witnesses each signed audit "
        "checkpoint's chain head; empty: checkpoints are not timestamped.",
    ),
    Setting(
        "AUDIT_TSA_CA_FILE",
        "",
        _parse_text,
        "PEM file of the certificates the time-stamping authority's tokens must chain to "
        "(its root, and intermediates); tokens are checked against it when stored and by "
        "`governance audit verify` (without it, verify compares each token's imprint with the "
        "trail but cannot check its signature, and says so; --strict then fails).",
    ),
    Setting(
        "QUEUE_URL",
        "",
        _parse_queue_url,
        "Job queue: empty means SQLite at instance/queue.db; redis://... in production.",
    ),
    Setting(
        "ANALYSIS_MAX_ATTEMPTS",
        3,
        _parse_positive_int,
        "Times an analysis run is started before a run whose worker keeps dying is failed.",
    ),
    Setting(
        "ANALYSIS_HEARTBEAT_TIMEOUT",
        120,
        _parse_positive_int,
        "Seconds without a heartbeat after which a running analysis's worker is presumed "
        "dead and the run is retried or failed.",
    ),
    Setting(
        "ANALYSIS_ENGINE",
        "auto",
        _parse_engine,
        "Where analyses run: pandas, duckdb, spark, or auto (by the rows a run reads: DuckDB "
        "from ANALYSIS_DUCKDB_MIN_ROWS, Spark from ANALYSIS_SPARK_MIN_ROWS when that is set).",
    ),
    Setting(
        "ANALYSIS_DUCKDB_MIN_ROWS",
        1_000_000,
        _parse_count,
        "With ANALYSIS_ENGINE=auto, runs reading at least this many rows run on DuckDB.",
    ),
    Setting(
        "ANALYSIS_DUCKDB_MEMORY_LIMIT",
        "4GB",
        _parse_text,
        "DuckDB's memory limit (it never spills to disk: a larger query fails instead).",
    ),
    Setting(
        "ANALYSIS_SPARK_MIN_ROWS",
        0,
        _parse_count,
        "With ANALYSIS_ENGINE=auto, runs reading at least this many rows run on Spark "
        "(0: never chosen by size).",
    ),
    Setting(
        "ANALYSIS_SPARK_MASTER",
        "local[*]",
        _parse_text,
        "Spark master for analyses: local[*], spark://HOST:7077 or k8s://https://HOST:443.",
    ),
    Setting(
        "EXPIRY_CHECK_MINUTES",
        60,
        _parse_positive_int,
        "How often the periodic jobs (expiry of agreements and grants, file sweeps) run, "
        "on the worker's scheduler.",
    ),
    Setting("SMTP_HOST", "", _parse_text, "Mail server for notifications; empty disables mail."),
    Setting("SMTP_PORT", 25, _parse_positive_int, "Mail server port."),
    Setting("MAIL_SENDER", "governance@localhost", _parse_text, "From address of notifications."),
    Setting("BASE_URL", "http://127.0.0.1:5000", _parse_text, "Public address used in e-mails."),
    Setting(
        "CATALOG_PUBLISHER",
        "Research data governance service",
        _parse_text,
        "Who publishes the DCAT-AP dataset catalogue (its dct:publisher): the service's operator.",
    ),
    Setting(
        "MAIL_MAX_ATTEMPTS",
        5,
        _parse_positive_int,
        "Times a message is tried (the first right after its change commits, then by the "
        "queue's periodic job) before it is recorded as failed.",
    ),
    Setting(
        "MAIL_RETRY_MINUTES",
        5,
        _parse_positive_int,
        "Wait before the first retry of a message the mail server refused; doubles each time.",
    ),
    Setting(
        "SERVICE_LEVELS",
        DEFAULT_SERVICE_LEVELS,
        _parse_service_levels,
        "Days each kind of task may wait before it is overdue, e.g. "
        '{"Request to review": 5, "default": 7}; a task whose workflow sets its own deadline '
        "(a preview window, an expiry date) keeps that deadline.",
    ),
    Setting(
        "REMINDER_DAYS_BEFORE_DUE",
        2,
        _parse_positive_int,
        "Days before a task is due that its owner is reminded.",
    ),
    Setting(
        "PROBE_ALERT_REFUSALS",
        5,
        _parse_positive_int,
        "Analysis runs one person may have refused for differencing or a too-small population "
        "under one agreement within PROBE_ALERT_DAYS before the service opens an incident for "
        "the privacy officers (each such refusal tells whether someone has a record).",
    ),
    Setting(
        "PROBE_ALERT_DAYS",
        7,
        _parse_positive_int,
        "The period over which PROBE_ALERT_REFUSALS counts refused runs.",
    ),
    Setting(
        "TRAINING_RENEWAL_DAYS",
        30,
        _parse_positive_int,
        "Training that expires within this many days becomes a task to renew it.",
    ),
    Setting(
        "WEBHOOK_ALLOWED_HOSTS",
        "",
        _parse_text,
        "Comma-separated host names webhooks may reach over plain HTTP or at a private, "
        "loopback or link-local address; every other endpoint must be HTTPS at a public address.",
    ),
    Setting(
        "WEBHOOK_MAX_ATTEMPTS",
        8,
        _parse_positive_int,
        "Attempts to deliver one webhook message before it is marked failed.",
    ),
    Setting(
        "WEBHOOK_RETRY_SECONDS",
        30,
        _parse_positive_int,
        "Wait before the first retry of a webhook message; each later wait doubles (at most "
        "6 hours).",
    ),
    Setting(
        "WEBHOOK_DISABLE_AFTER",
        20,
        _parse_positive_int,
        "Failed attempts in a row after which a webhook endpoint is disabled.",
    ),
    Setting(
        "WEBHOOK_TIMEOUT_SECONDS",
        10,
        _parse_positive_int,
        "Seconds a webhook endpoint has to answer one message.",
    ),
    Setting("API_TOKEN_DAYS", 90, _parse_positive_int, "Default lifetime of a personal API token."),
    Setting(
        "PASSPORT_KEY_DIR",
        "",
        _parse_text,
        "Folder of the keys that sign GA4GH Passport visas (the current private key, and the "
        "public keys still published at the JWKS URL); empty means instance/passport. Never "
        "in the database or in git (docs/standards.md).",
    ),
    Setting(
        "PASSPORT_KEY_ALGORITHM",
        "ES256",
        _parse_passport_algorithm,
        "Signature algorithm of the next visa signing key `governance passport rotate-key` "
        "makes: ES256 (P-256) or RS256 (RSA 3072).",
    ),
    Setting(
        "PASSPORT_VISA_MINUTES",
        60,
        _parse_visa_minutes,
        "Lifetime of a GA4GH visa (at most 1440); a visa never outlives its grant.",
    ),
    Setting(
        "SESSION_IDLE_MINUTES",
        30,
        _parse_positive_int,
        "A signed-in session unused for this long ends (NIST SP 800-63B, AAL2: 30 minutes).",
    ),
    Setting(
        "SESSION_MAX_HOURS",
        12,
        _parse_positive_int,
        "A signed-in session ends this long after sign-in, however active (SP 800-63B AAL2: "
        "12 hours).",
    ),
    Setting(
        "REAUTH_MINUTES",
        10,
        _parse_positive_int,
        "The most sensitive actions (approving an agreement or direct identifiers, exporting the "
        "audit trail) ask for the password again when the last proof is older than this.",
    ),
    Setting(
        "SCIM_ORGANIZATION",
        "",
        _parse_text,
        "Name of the organisation that accounts created through SCIM join until a group mapping "
        "says otherwise; empty means the first research organisation.",
    ),
    Setting(
        "POLICY_DIR",
        "",
        _parse_text,
        "Folder holding the Casbin model and role rules; empty means policies/.",
    ),
)
SETTINGS_BY_NAME = {setting.name: setting for setting in SETTINGS}
# Flask's own keys that tests and deployments may pass straight through.
FLASK_KEYS = {"TESTING", "WTF_CSRF_ENABLED", "SERVER_NAME", "PREFERRED_URL_SCHEME"}


def load_settings(
    instance_path: Path,
    test_config: Mapping[str, Any] | None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Merge defaults, instance/config.py, GOVERNANCE_* variables and test overrides."""
    environ = os.environ if environ is None else environ
    raw: dict[str, object] = {s.name: s.default for s in SETTINGS}
    config_file = instance_path / "config.py"
    if config_file.exists():
        values = runpy.run_path(str(config_file))
        for key, value in values.items():
            if key.isupper():
                _check_known(key, f"{config_file}")
                raw[key] = value
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX) and key not in HARNESS_VARIABLES:
            name = key[len(ENV_PREFIX) :]
            _check_known(name, f"environment variable {key}")
            raw[name] = value
    passthrough: dict[str, Any] = {}
    for key, value in (test_config or {}).items():
        if key in FLASK_KEYS:
            passthrough[key] = value
        else:
            _check_known(key, "test configuration")
            raw[key] = value
    settings = {name: _parse(name, value) for name, value in raw.items()}
    _fill_instance_defaults(settings, instance_path)
    settings.update(passthrough)
    return settings


def _check_known(name: str, source: str) -> None:
    if name not in SETTINGS_BY_NAME:
        known = ", ".join(sorted(SETTINGS_BY_NAME))
        raise ConfigError(f"Unknown setting {name!r} in {source}. Known settings: {known}.")


def _parse(name: str, value: object) -> Any:
    setting = SETTINGS_BY_NAME[name]
    try:
        return setting.parse(value)
    except (ValueError, TypeError) as exc:
        shown = "" if setting.secret else f" ({value!r})"
        raise ConfigError(f"Invalid value for {name}{shown}: {exc}.") from (
            None if setting.secret else exc
        )


def _fill_instance_defaults(settings: dict[str, Any], instance_path: Path) -> None:
    """Point empty path settings into instance/ and create the secret key once."""
    if not settings["DATABASE_URL"]:
        settings["DATABASE_URL"] = f"sqlite:///{instance_path / 'governance.kernel.db'}"
    if not settings["DATA_DIR"]:
        settings["DATA_DIR"] = str(instance_path / "data")
    if not settings["DATA_KEY_FILE"]:
        settings["DATA_KEY_FILE"] = str(instance_path / "data.key")
    if not settings["AUDIT_KEY_FILE"]:
        settings["AUDIT_KEY_FILE"] = str(instance_path / "audit.key")
    if not settings["PASSPORT_KEY_DIR"]:
        settings["PASSPORT_KEY_DIR"] = str(instance_path / "passport")
    if not settings["QUEUE_URL"]:
        settings["QUEUE_URL"] = f"sqlite:///{instance_path / 'queue.db'}"
    if not settings["IDENTITY_PROVIDERS_FILE"]:
        settings["IDENTITY_PROVIDERS_FILE"] = str(instance_path / "identity_providers.toml")
    if not settings["POLICY_DIR"]:
        settings["POLICY_DIR"] = str(PROJECT_ROOT / "policies")
    if not settings["SECRET_KEY"]:
        settings["SECRET_KEY"] = _session_secret(instance_path / "secret_key").hex()


def is_loopback_http(base_url: str) -> bool:
    """Whether the site is served as plain HTTP on this machine only (the local demo)."""
    parts = urlsplit(base_url)
    return parts.scheme == "http" and _is_loopback_host(parts.hostname or "")


def is_http_off_loopback(base_url: str) -> bool:
    """Whether the site is served as plain HTTP to other machines: passwords and session
    cookies would cross the network in clear."""
    parts = urlsplit(base_url)
    return parts.scheme == "http" and not _is_loopback_host(parts.hostname or "")


def _is_loopback_host(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def session_cookie_secure(settings: Mapping[str, Any]) -> bool:
    """SESSION_COOKIE_SECURE as set, or (auto) true unless BASE_URL is plain HTTP on loopback."""
    chosen = settings["SESSION_COOKIE_SECURE"]
    if chosen is None:
        return not is_loopback_http(str(settings["BASE_URL"]))
    return bool(chosen)


def _session_secret(path: Path, size: int = 32) -> bytes:
    """The generated session secret, created owner-only on first use.

    Unlike the audit and data keys (governance/kernel/keys.py), this one may be created at start-up:
    losing it costs nothing but everyone's sign-in, while nothing stored depends on it."""
    if not path.exists():
        private_dir(path.parent)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first
        else:
            try:
                os.write(fd, secrets.token_bytes(size))
            finally:
                os.close(fd)
    key = path.read_bytes()
    if len(key) != size:
        raise ConfigError(
            f"The session secret file {path} holds {len(key)} bytes; expected "
            f"{size}. Delete it to have a new one made (everyone signs in again)."
        )
    return key


def private_dir(path: Path) -> Path:
    """Create a folder (and missing parents) readable by its owner only; an existing folder
    is left as it is."""
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """Create an empty file readable by its owner only, unless it exists. SQLite gives its
    -wal and -shm files the mode of the database file, so this covers them too."""
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return path


def project_instance_path() -> Path:
    """`instance/` beside the package, unless GOVERNANCE_INSTANCE_PATH moves it."""
    override = os.environ.get("GOVERNANCE_INSTANCE_PATH")
    if override:
        return Path(override).resolve()
    return PROJECT_ROOT / "instance"
