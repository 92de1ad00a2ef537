"""Suite-wide fixtures. The suite runs against real PostgreSQL and Redis (make test)."""

from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate-limit counters and cached lookups must not leak between tests."""
    cache.clear()
    yield
