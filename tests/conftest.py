"""Suite-wide fixtures. The suite runs against real PostgreSQL and Redis (make test)."""

from __future__ import annotations

import logging

import pytest
from django.core.cache import cache


class _DropUnclosedAiohttp(logging.Filter):
    """Each test runs on its own event loop, and the RPC client keeps one aiohttp session
    per loop for the life of the process (apps/chain/http.py). When a test's loop ends,
    aiohttp reports the session it leaves behind; in a server that never happens."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Unclosed client session", "Unclosed connector"))


logging.getLogger("asyncio").addFilter(_DropUnclosedAiohttp())


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Servers in threads must not pin connections past a request, or the test
    database cannot be dropped at the end; tests that need persistence set it."""
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate-limit counters and cached lookups must not leak between tests."""
    cache.clear()
    yield


@pytest.fixture
def api_token(transactional_db) -> str:
    """A live bearer token for a fresh user."""
    from django.contrib.auth import get_user_model

    from apps.ingestion.services.api_tokens import api_token_issue

    user = get_user_model().objects.create_user(username="ops@example.com", email="ops@example.com")
    return api_token_issue(user=user, name="test").raw
