"""Development secrets: generated once, kept in var/, refused in production.

A development machine must work with no environment at all, yet the wallet
encryption key must stay the same across restarts (or every stored key becomes
unreadable). So the first start writes random secrets to var/dev-secrets.json
(mode 0600) and later starts read them back. With DEBUG=false nothing is
generated: a missing secret stops the process with a message naming it.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

REQUIRED_IN_PRODUCTION = ("SECRET_KEY", "WALLET_ENCRYPTION_KEY")


def _generate(name: str) -> str:
    if name == "WALLET_ENCRYPTION_KEY":
        # 32 random bytes, urlsafe base64: an AES-256-GCM key.
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    return secrets.token_urlsafe(50)


def load_secrets(*, debug: bool, env: dict[str, str], store: Path) -> dict[str, str]:
    """Return every secret in REQUIRED_IN_PRODUCTION, from env or the dev store."""
    missing = [name for name in REQUIRED_IN_PRODUCTION if not env.get(name)]
    if not debug and missing:
        raise ImproperlyConfigured(
            "DEBUG=false and these required secrets are not set: "
            + ", ".join(missing)
            + ". Set them in the environment (see .env.example)."
        )
    found = {name: env[name] for name in REQUIRED_IN_PRODUCTION if env.get(name)}
    if not missing:
        return found
    stored: dict[str, str] = {}
    if store.exists():
        stored = json.loads(store.read_text())
    changed = False
    for name in missing:
        if name not in stored:
            stored[name] = _generate(name)
            changed = True
        found[name] = stored[name]
    if changed:
        store.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(store, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh)
    return found
