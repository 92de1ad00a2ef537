"""Settings, read from the environment, with embedded defaults for development.

With no environment at all the platform runs on SQLite, an in-process channel
layer, an in-process (eager) task queue and the localnet. DATABASE_URL and
REDIS_URL switch to the real services. Every setting is listed in .env.example.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ

from config.secrets import load_secrets

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)
_secrets = load_secrets(debug=DEBUG, env=dict(os.environ), store=VAR_DIR / "dev-secrets.json")
SECRET_KEY = _secrets["SECRET_KEY"]
WALLET_ENCRYPTION_KEY = _secrets["WALLET_ENCRYPTION_KEY"]
# Keys wallets may still be sealed with, during a rotation (manage.py rotate_wallet_key).
WALLET_ENCRYPTION_OLD_KEYS = env.list("WALLET_ENCRYPTION_OLD_KEYS", default=[])

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# This backend's name in metrics and in the rollout routing table.
BACKEND_NAME = env.str("BACKEND_NAME", default="platform")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "ninja",
    "apps.chain",
    "apps.trading",
    "apps.monitoring",
    "apps.realtime",
    "apps.ingestion",
    "apps.flags",
]

if DEBUG:
    # First: its runserver serves HTTP and WebSocket in development. Only then: it pulls
    # in Twisted, ~20 MB a production worker (granian) never uses.
    INSTALLED_APPS.insert(0, "daphne")

# The stock chain: admin and every sync view go through it, with Django's semantics.
MIDDLEWARE = [
    "apps.monitoring.middleware.RequestMetricsMiddleware",
    "config.middleware.ApiErrorFormatMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The lean chain for async views (config/fast_asgi.py): I/O-free DualModeMiddleware
# only, run flat around the view, so a request never hops to a thread on its own.
# (Security headers are appended by the fast path's send, as constant bytes.)
FAST_PATH_MIDDLEWARE = [
    "apps.monitoring.middleware.RequestMetricsMiddleware",
    "config.middleware.ApiErrorFormatMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -----------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, channel layer, Celery -------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "platform",
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
# No Redis: tasks run in process, at the call (the embedded queue).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)

# --- realtime: event bus (apps/realtime/bus.py) --------------------------------------
# Events kept per topic for replay after a reconnect (Redis XADD MAXLEN ~ N; in process: N).
EVENT_STREAM_MAXLEN = env.int("EVENT_STREAM_MAXLEN", default=10_000)
# Live events buffered per subscriber; past that it drops the buffer and re-reads the stream.
EVENT_SUBSCRIBER_BUFFER = env.int("EVENT_SUBSCRIBER_BUFFER", default=1_000)
# WebSocket /ws/: the server pings this often and closes a client silent for 3 of them;
# a client with more than WS_SEND_QUEUE events waiting to be sent is closed (4008).
WS_HEARTBEAT_SECONDS = env.float("WS_HEARTBEAT_SECONDS", default=20.0)
WS_SEND_QUEUE = env.int("WS_SEND_QUEUE", default=2_000)
# SSE /api/stream: comment heartbeats this often (keeps proxies from timing out).
SSE_HEARTBEAT_SECONDS = env.float("SSE_HEARTBEAT_SECONDS", default=15.0)

# --- Solana ---------------------------------------------------------------------
LOCALNET_HOST = env.str("LOCALNET_HOST", default="127.0.0.1")
LOCALNET_PORT = env.int("LOCALNET_PORT", default=8899)
LOCALNET_SLOT_MS = env.int("LOCALNET_SLOT_MS", default=400)
LOCALNET_WS_PORT = env.int("LOCALNET_WS_PORT", default=LOCALNET_PORT + 1)
LOCALNET_GRPC_PORT = env.int("LOCALNET_GRPC_PORT", default=10000)
LOCALNET_ENGINES_PORT = env.int("LOCALNET_ENGINES_PORT", default=8902)
LOCALNET_FUND = env.list("LOCALNET_FUND", default=[])
_LOCALNET_ENGINES = f"http://{LOCALNET_HOST}:{LOCALNET_ENGINES_PORT}"
# The self-trading market `make run` starts beside the localnet (apps/chain/localnet/market.py).
MARKET_ENABLED = env.bool("MARKET_ENABLED", default=True)
MARKET_SEED = env.int("MARKET_SEED", default=7)
MARKET_LAUNCHES_PER_MINUTE = env.float("MARKET_LAUNCHES_PER_MINUTE", default=4.0)
MARKET_TRADES_PER_SECOND = env.float("MARKET_TRADES_PER_SECOND", default=3.0)
MARKET_TRADERS = env.int("MARKET_TRADERS", default=24)
MARKET_GRADUATION_SHARE = env.float("MARKET_GRADUATION_SHARE", default=0.2)
MARKET_RUG_SHARE = env.float("MARKET_RUG_SHARE", default=0.25)
SOLANA_RPC_URLS = env.list("SOLANA_RPC_URLS", default=[f"http://{LOCALNET_HOST}:{LOCALNET_PORT}"])
SOLANA_WS_URL = env.str("SOLANA_WS_URL", default=f"ws://{LOCALNET_HOST}:{LOCALNET_WS_PORT}")
# Yellowstone gRPC: host:port, or https://host:port for TLS; the token goes in x-token.
GEYSER_URL = env.str("GEYSER_URL", default=f"{LOCALNET_HOST}:{LOCALNET_GRPC_PORT}")
GEYSER_X_TOKEN = env.str("GEYSER_X_TOKEN", default="")
JITO_URL = env.str("JITO_URL", default=f"{_LOCALNET_ENGINES}/jito")
BLOXROUTE_URL = env.str("BLOXROUTE_URL", default=f"{_LOCALNET_ENGINES}/bloxroute")
BLOXROUTE_AUTH = env.str("BLOXROUTE_AUTH", default="")
NEXTBLOCK_URL = env.str("NEXTBLOCK_URL", default=f"{_LOCALNET_ENGINES}/nextblock")
NEXTBLOCK_AUTH = env.str("NEXTBLOCK_AUTH", default="")
JITO_UUID = env.str("JITO_UUID", default="")
# Jito tip-floor REST URL (https://bundles.jito.wtf/api/v1/bundles/tip_floor); empty = no
# tip levels in /api/fees/priority (the localnet has no tip floor).
JITO_TIP_FLOOR_URL = env.str("JITO_TIP_FLOOR_URL", default="")
# Engines orders are sent to (at once), and how long each may take to answer.
ENGINES_ENABLED = env.list("ENGINES_ENABLED", default=["jito", "bloxroute", "nextblock"])
ENGINE_TIMEOUT_SECONDS = env.float("ENGINE_TIMEOUT_SECONDS", default=2.0)
SOLANA_RPC_TIMEOUT = env.float("SOLANA_RPC_TIMEOUT", default=2.0)

# --- execution: orders (apps/trading/services/orders.py, execution.py) ---------------
# Engine tip when an order names none (lamports; Jito's floor is 1,000).
ORDER_DEFAULT_TIP_LAMPORTS = env.int("ORDER_DEFAULT_TIP_LAMPORTS", default=100_000)
# Compute-unit limit of an order's transaction (a pump.fun / PumpSwap trade uses < 150k).
ORDER_COMPUTE_UNIT_LIMIT = env.int("ORDER_COMPUTE_UNIT_LIMIT", default=300_000)
# One slot's length, to turn slot counts into waits (mainnet: ~0.4 s).
SLOT_SECONDS = env.float("SLOT_SECONDS", default=0.4)
# Slots without a landing before the direct-RPC fallback starts rebroadcasting.
ORDER_FALLBACK_AFTER_SLOTS = env.int("ORDER_FALLBACK_AFTER_SLOTS", default=4)
ORDER_REBROADCAST_SECONDS = env.float("ORDER_REBROADCAST_SECONDS", default=0.4)
# Give up after this long: the order's nonce is retired, then it is marked expired.
ORDER_EXPIRE_SECONDS = env.float("ORDER_EXPIRE_SECONDS", default=60.0)
ORDER_POLL_SECONDS = env.float("ORDER_POLL_SECONDS", default=0.1)
# How long an order waits for its wallet's nonce while another order of the wallet holds it.
ORDER_NONCE_WAIT_SECONDS = env.float("ORDER_NONCE_WAIT_SECONDS", default=30.0)
# Sniper rules run beside the monitor; false is the environment's kill switch (the admin
# has its own). Rules and the switch are re-read this often.
SNIPER_ENABLED = env.bool("SNIPER_ENABLED", default=True)
SNIPER_REFRESH_SECONDS = env.float("SNIPER_REFRESH_SECONDS", default=1.0)

# --- monitoring: token state, migrations, Pulse (apps/monitoring) -------------------
# Tokens the stream processor keeps in memory; the least recently traded beyond this are
# reloaded from the database (and their holder book from Redis) when they trade again.
MONITOR_HOT_TOKENS = env.int("MONITOR_HOT_TOKENS", default=50_000)

# --- monitoring: Geyser stream (apps/monitoring/services/geyser_stream.py) -------------
# Commitment the monitor subscribes at: processed, confirmed or finalized.
GEYSER_COMMITMENT = env.str("GEYSER_COMMITMENT", default="confirmed")
# Names the checkpoint and the lease in Redis: instances sharing it are active + standbys.
GEYSER_STREAM_NAME = env.str("GEYSER_STREAM_NAME", default="monitor")
GEYSER_QUEUE_SIZE = env.int("GEYSER_QUEUE_SIZE", default=10_000)
GEYSER_PING_SECONDS = env.float("GEYSER_PING_SECONDS", default=10.0)
GEYSER_RECONNECT_BASE_SECONDS = env.float("GEYSER_RECONNECT_BASE_SECONDS", default=0.5)
GEYSER_RECONNECT_MAX_SECONDS = env.float("GEYSER_RECONNECT_MAX_SECONDS", default=30.0)
GEYSER_HEALTHY_SECONDS = env.float("GEYSER_HEALTHY_SECONDS", default=30.0)
GEYSER_STALL_SECONDS = env.float("GEYSER_STALL_SECONDS", default=10.0)
GEYSER_LEASE_TTL_SECONDS = env.float("GEYSER_LEASE_TTL_SECONDS", default=10.0)
# Port for the monitor process's own /metrics (0 = none; with PROMETHEUS_MULTIPROC_DIR
# the web process aggregates it instead).
GEYSER_METRICS_PORT = env.int("GEYSER_METRICS_PORT", default=0)
# Run the monitor inside the web process (Procfile.embedded sets it): without Redis the
# event bus is in process, so the monitor must share the web worker to reach its clients.
MONITOR_IN_WEB = env.bool("MONITOR_IN_WEB", default=False)

# --- API --------------------------------------------------------------------------
# Bodies over this size are refused with 413 before they are parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
HEALTH_CHECK_TIMEOUT = env.float("HEALTH_CHECK_TIMEOUT", default=2.0)

# --- auth: email one-time-password login -----------------------------------------
OTP_TTL_SECONDS = env.int("OTP_TTL_SECONDS", default=600)
OTP_MAX_ATTEMPTS = env.int("OTP_MAX_ATTEMPTS", default=5)
OTP_RATE_PER_EMAIL = env.str("OTP_RATE_PER_EMAIL", default="5/900")  # requests/seconds
OTP_RATE_PER_IP = env.str("OTP_RATE_PER_IP", default="20/3600")
# Trust X-Forwarded-For's first hop for the client IP only behind a known proxy.
TRUST_X_FORWARDED_FOR = env.bool("TRUST_X_FORWARDED_FOR", default=False)
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Trading Platform <login@localhost>")

# --- metrics ----------------------------------------------------------------------
# Set in multi-process deployments; prometheus_client then aggregates across workers.
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
METRICS_WINDOW_SECONDS = env.int("METRICS_WINDOW_SECONDS", default=600)

# --- i18n, static -----------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# --- production hardening -----------------------------------------------------------
if not DEBUG:
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_JSON = env.bool("LOG_JSON", default=not DEBUG)
from config.logging import build_logging_config  # noqa: E402

LOGGING = build_logging_config(level=LOG_LEVEL, json=LOG_JSON)

# Serve /static/ from the ASGI app itself (admin and docs assets). Behind a CDN or
# reverse proxy that serves collectstatic's output, set SERVE_STATIC=false.
SERVE_STATIC = env.bool("SERVE_STATIC", default=True)
