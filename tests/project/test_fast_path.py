"""The ASGI fast path: async views stay on the event loop; the rest keeps Django's ways."""

from __future__ import annotations

import threading

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from config.fast_asgi import PlatformASGIHandler
from tests.asgi import asgi_request


@pytest.fixture
def handler(settings):
    settings.ROOT_URLCONF = "tests.project.urls"
    return PlatformASGIHandler()


async def test_async_view__fast_path__runs_on_the_loop_thread_without_thread_context(handler):
    response = await asgi_request(handler, "GET", "/probe/async")

    assert response.status == 200
    assert response.json() == {
        "thread": threading.get_ident(),
        "thread_sensitive_context": False,
    }


async def test_sync_view__stock_path__runs_in_a_worker_thread_inside_a_thread_context(handler):
    response = await asgi_request(handler, "GET", "/probe/sync")

    body = response.json()
    assert response.status == 200
    assert body["thread"] != threading.get_ident()
    assert body["thread_sensitive_context"] is True


async def test_fast_path__sets_security_headers_and_json(handler):
    response = await asgi_request(handler, "GET", "/api/ping")

    assert response.status == 200
    assert response.json()["pong"] is True
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.django_db(transaction=True)
async def test_admin__stock_path__keeps_sessions_and_csrf(handler):
    response = await asgi_request(handler, "GET", "/admin/login/")

    assert response.status == 200
    assert b"csrfmiddlewaretoken" in response.body
    assert "csrftoken=" in response.headers.get("set-cookie", "")


@pytest.fixture
async def conn_max_age():
    """Set CONN_MAX_AGE on the sync thread's connection; restore and close after."""
    original = connection.settings_dict["CONN_MAX_AGE"]
    yield
    await sync_to_async(_set_conn_max_age)(original)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("conn_max_age")
async def test_fast_path_db_use__conn_max_age_zero__connection_closed_after_request(handler):
    # /api/health runs SELECT 1 through the ORM's connection on asgiref's sync thread.
    await sync_to_async(_set_conn_max_age)(0)

    response = await asgi_request(handler, "GET", "/api/health")

    assert response.json()["checks"]["database"]["status"] == "up"
    assert await sync_to_async(_connection_is_open)() is False


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("conn_max_age")
async def test_fast_path_db_use__persistent_connections__connection_reused(handler):
    await sync_to_async(_set_conn_max_age)(None)
    await asgi_request(handler, "GET", "/api/health")
    first = await sync_to_async(_backend_pid)()

    await asgi_request(handler, "GET", "/api/health")

    assert await sync_to_async(_connection_is_open)() is True
    assert await sync_to_async(_backend_pid)() == first


def _set_conn_max_age(value) -> None:
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = value


def _connection_is_open() -> bool:
    return connection.connection is not None


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]
