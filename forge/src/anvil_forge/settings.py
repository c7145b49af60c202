"""Settings, read from the environment (see docs/deployment.md).

DATABASE_URL     SQLite in ANVIL_DATA_DIR by default; postgres://… for PostgreSQL
ANVIL_DATA_DIR   where the embedded database, the secret key and e-mails live (./var)
SECRET_KEY       generated once into ANVIL_DATA_DIR/secret_key when unset
ANVIL_BASE_URL   absolute URL of this FORGE, used in links sent by e-mail
ALLOWED_HOSTS    comma-separated; defaults to loopback names
DEBUG            off unless "1"/"true"/"yes"
REDIS_URL        redis://host:6379/0 to share the cache (API rate limits) between processes
ANVIL_API_RATE_LIMIT  API requests per key / user / address, e.g. "600/minute" (the default)
ANVIL_DB_POOL_SIZE    PostgreSQL: connections per process at most (10); requests wait for a free one
ANVIL_SIGNUP     "open" (anyone may sign up, the default) or "invitation" (only through an invitation link)
ANVIL_RECEIVER_ALLOWED_NETWORKS  comma-separated CIDRs the FORGE may push to besides public addresses
                 (e.g. "127.0.0.0/8,::1/128"; empty, the default: public addresses only)
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from anvil_forge.core.network import parse_networks


def env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("ANVIL_DATA_DIR", "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)  # mode: when it is created here


def _secret_key() -> str:
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    from anvil_forge.core.files import create_once

    return create_once(DATA_DIR / "secret_key", secrets.token_urlsafe(50).encode()).decode().strip()


SECRET_KEY = _secret_key()
DEBUG = env_flag("DEBUG")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
ANVIL_BASE_URL = os.environ.get("ANVIL_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = [ANVIL_BASE_URL]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",  # the API's docs page and its assets (served locally, not from a CDN)
    "anvil_forge.accounts",
    "anvil_forge.orgs",
    "anvil_forge.audit",
    "anvil_forge.prompts",
    "anvil_forge.distribution",
    "anvil_forge.peering",
    "anvil_forge.web",
    "anvil_forge",  # management commands
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "anvil_forge.api.middleware.ApiMiddleware",  # /api/v1/: rate limits, ETags, error envelope
    "django.contrib.messages.middleware.MessageMiddleware",
    "anvil_forge.web.middleware.IdleSessionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
]

# Content-Security-Policy on every response: only this FORGE's own scripts, styles, images and connections
# (every asset is served from here, never a CDN); an inline <script> runs only with the request's nonce.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

ROOT_URLCONF = "anvil_forge.urls"
ASGI_APPLICATION = "anvil_forge.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "anvil_forge.web.context.shell",
                "django.template.context_processors.csp",  # csp_nonce, for an inline <script> if one is needed
            ],
        },
    },
]


def _database() -> dj_database_url.DBConfig:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'anvil.sqlite3'}"
    config = dj_database_url.parse(url, conn_max_age=0)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["ENGINE"] = "anvil_forge.db.sqlite3"  # Django's, with a trigger-aware flush
        # WAL + a busy timeout let the web server and the task worker share the file;
        # IMMEDIATE transactions take the write lock up front instead of failing mid-way.
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        }
        # A file, not memory, so tests can run FORGE server processes against the test database.
        config["TEST"] = {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")}
    elif config["ENGINE"] == "django.db.backends.postgresql":
        # A pool per process: every concurrent request (each in its own thread under ASGI) borrows a
        # connection and gives it back, waiting up to `timeout` s when all are out, instead of opening
        # one per request — a burst of 500 streaming clients would exceed PostgreSQL's limit (100).
        config.setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1, "max_size": int(os.environ.get("ANVIL_DB_POOL_SIZE", "10")), "timeout": 30}
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Cache: local memory per process, or Redis shared by every process when REDIS_URL is set; with Redis,
# the API's rate-limit counters live there (api/ratelimit.py; without it, in memory per process). The
# sign-in and e-mail throttles count in the database whatever this says (accounts/counters.py).
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": REDIS_URL, "KEY_PREFIX": "anvil"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "anvil"}}

# REST API: requests per API key / signed-in user / client address, "N/second|minute|hour|day".
ANVIL_API_RATE_LIMIT = os.environ.get("ANVIL_API_RATE_LIMIT", "600/minute")

# E-mail: written as files into ANVIL_DATA_DIR/mail unless SMTP is configured.
if os.environ.get("EMAIL_HOST"):
    _mailer = {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": os.environ["EMAIL_HOST"],
            "port": int(os.environ.get("EMAIL_PORT", "587")),
            "username": os.environ.get("EMAIL_HOST_USER", ""),
            "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
            "use_tls": env_flag("EMAIL_USE_TLS", True),
        },
    }
else:
    _mailer = {
        "BACKEND": "anvil_forge.core.mail.PrivateFileBackend",  # files 0600: they hold sign-in links
        "OPTIONS": {"file_path": str(DATA_DIR / "mail")},
    }
MAILERS = {"default": _mailer}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "anvil@localhost")

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Web UI (anvil_forge.web) -------------------------------------------------------
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:dashboard"
LOGOUT_REDIRECT_URL = "web:login"
# Signed out after this long without a request; the cookie lasts an hour longer so the
# next visit can say why (web.middleware.IdleSessionMiddleware enforces the limit).
ANVIL_SESSION_IDLE_MINUTES = int(os.environ.get("ANVIL_SESSION_IDLE_MINUTES", "120"))
SESSION_COOKIE_AGE = (ANVIL_SESSION_IDLE_MINUTES + 60) * 60
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = ANVIL_BASE_URL.startswith("https://")
# Served over HTTPS: browsers are told to use nothing else for a year (sent on secure requests only;
# behind a proxy, uvicorn takes the scheme from X-Forwarded-Proto). ANVIL_HSTS_SECONDS=0 turns it off.
SECURE_HSTS_SECONDS = int(os.environ.get("ANVIL_HSTS_SECONDS", "31536000" if SESSION_COOKIE_SECURE else "0"))
ANVIL_MAGIC_LINK_MINUTES = int(os.environ.get("ANVIL_MAGIC_LINK_MINUTES", "15"))
# "open": anyone may sign up; "invitation": only through an invitation's link (accounts.services.sign_up).
ANVIL_SIGNUP = os.environ.get("ANVIL_SIGNUP", "open").strip().lower()
if ANVIL_SIGNUP not in ("open", "invitation"):
    raise ImproperlyConfigured(f"ANVIL_SIGNUP must be 'open' or 'invitation', not {ANVIL_SIGNUP!r}")
ANVIL_LOGIN_ATTEMPTS_PER_EMAIL = int(os.environ.get("ANVIL_LOGIN_ATTEMPTS_PER_EMAIL", "5"))
ANVIL_LOGIN_ATTEMPTS_PER_ADDRESS = int(os.environ.get("ANVIL_LOGIN_ATTEMPTS_PER_ADDRESS", "20"))
ANVIL_LOGIN_THROTTLE_MINUTES = int(os.environ.get("ANVIL_LOGIN_THROTTLE_MINUTES", "15"))
# E-mails asked for (sign-up, sign-in link, confirmation, password reset) per address / per network, per window.
ANVIL_MAIL_REQUESTS_PER_EMAIL = 3
ANVIL_MAIL_REQUESTS_PER_ADDRESS = 20
PASSWORD_RESET_TIMEOUT = 60 * 60  # reset links: one hour

# Static files are served by WhiteNoise, with DEBUG off too, straight from the apps'
# static/ folders (no collectstatic needed; `anvil collectstatic` into STATIC_ROOT works as well).
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- Peering (anvil_forge.peering, docs/peering.md) -----------------------------------
# Other FORGEs this one may browse: a TOML/JSON file path or inline JSON of [{name, url, token}],
# where a token may be "env:VARNAME". Tokens are never shown or logged.
ANVIL_KNOWN_FORGES = os.environ.get("ANVIL_KNOWN_FORGES", "")
ANVIL_FORGE_NAME = os.environ.get("ANVIL_FORGE_NAME", "")  # shown to peers; defaults to ANVIL_BASE_URL's host
ANVIL_PEER_CONNECT_TIMEOUT = float(os.environ.get("ANVIL_PEER_CONNECT_TIMEOUT", "3"))
ANVIL_PEER_READ_TIMEOUT = float(os.environ.get("ANVIL_PEER_READ_TIMEOUT", "10"))

# Distribution (docs/distribution.md)
ANVIL_LIVE_STALE_SECONDS = int(os.environ.get("ANVIL_LIVE_STALE_SECONDS", "180"))
# New LIVE instances a project accepts while this many were heard from in the last day (a leaked token's flood).
ANVIL_MAX_LIVE_INSTANCES = int(os.environ.get("ANVIL_MAX_LIVE_INSTANCES", "10000"))
# How long a publish or promote waiting for approval (a channel that requires it) stays open.
ANVIL_PUBLISH_REQUEST_HOURS = float(os.environ.get("ANVIL_PUBLISH_REQUEST_HOURS", "72"))
ANVIL_DELIVERY_CLAIM_SECONDS = float(os.environ.get("ANVIL_DELIVERY_CLAIM_SECONDS", "60"))
ANVIL_DELIVERY_BACKOFF_SECONDS = float(os.environ.get("ANVIL_DELIVERY_BACKOFF_SECONDS", "2"))
# Event streams: a comment line this often keeps proxies from closing the connection (and re-checks the token).
ANVIL_SSE_HEARTBEAT_SECONDS = float(os.environ.get("ANVIL_SSE_HEARTBEAT_SECONDS", "15"))
# Receivers on loopback, private, link-local or metadata addresses are refused unless their network is listed
# here (distribution/destinations.py; docs/security.md#receiver-urls). A wrong value stops the FORGE at start.
try:
    ANVIL_RECEIVER_ALLOWED_NETWORKS = parse_networks(os.environ.get("ANVIL_RECEIVER_ALLOWED_NETWORKS", ""))
except ValueError as _exc:
    raise ImproperlyConfigured(f"ANVIL_RECEIVER_ALLOWED_NETWORKS: {_exc}") from None
