"""Settings: embedded defaults with no environment; secrets required in production."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'db': s.DATABASES['default']['ENGINE'], "
    "'layer': s.CHANNEL_LAYERS['default']['BACKEND'], 'eager': s.CELERY_TASK_ALWAYS_EAGER, "
    "'broker': s.CELERY_BROKER_URL, 'cache': s.CACHES['default']['BACKEND'], "
    "'rpc': s.SOLANA_RPC_URLS, 'email': s.EMAIL_BACKEND}))"
)


def _run(env_extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "VAR_DIR": str(tmp_path),
        **env_extra,
    }
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_no_environment__embedded_defaults(tmp_path):
    result = _run({}, tmp_path)

    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout)
    assert probe["db"] == "django.db.backends.sqlite3"
    assert probe["layer"] == "channels.layers.InMemoryChannelLayer"
    assert probe["eager"] is True
    assert probe["cache"].endswith("LocMemCache")
    assert probe["rpc"] == ["http://127.0.0.1:8899"]
    assert probe["email"] == "django.core.mail.backends.console.EmailBackend"


def test_no_environment__dev_secrets_generated_once_and_kept(tmp_path):
    _run({}, tmp_path)
    first = json.loads((tmp_path / "dev-secrets.json").read_text())
    _run({}, tmp_path)

    assert json.loads((tmp_path / "dev-secrets.json").read_text()) == first
    assert set(first) == {"SECRET_KEY", "WALLET_ENCRYPTION_KEY"}
    assert (tmp_path / "dev-secrets.json").stat().st_mode & 0o077 == 0


def test_real_services__urls_switch_backends(tmp_path):
    result = _run(
        {
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/platform",
            "REDIS_URL": "redis://127.0.0.1:6379/15",
        },
        tmp_path,
    )

    probe = json.loads(result.stdout)
    assert probe["db"] == "django.db.backends.postgresql"
    assert probe["layer"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert probe["eager"] is False
    assert probe["broker"] == "redis://127.0.0.1:6379/15"


def test_production_without_secrets__refuses_naming_them(tmp_path):
    result = _run({"DEBUG": "false"}, tmp_path)

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr and "WALLET_ENCRYPTION_KEY" in result.stderr
    assert not (tmp_path / "dev-secrets.json").exists()


def test_production_with_one_secret_missing__names_only_that_one(tmp_path):
    result = _run({"DEBUG": "false", "SECRET_KEY": "x" * 50}, tmp_path)

    assert result.returncode != 0
    assert "WALLET_ENCRYPTION_KEY" in result.stderr
    assert "not set: WALLET_ENCRYPTION_KEY." in result.stderr
