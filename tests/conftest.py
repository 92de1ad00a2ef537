"""Suite-wide fixtures. The suite runs against real PostgreSQL and Redis (make test)."""

from __future__ import annotations

import pytest
from django.core.cache import cache


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
