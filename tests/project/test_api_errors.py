"""Every API error has one shape, and bad input never yields a 500 or HTML.

The body tests walk the OpenAPI schema, so each new endpoint with a body is
covered the day it is added, through both the fast path and the stock path.
"""

from __future__ import annotations

import json
import re

import pytest
from django.conf import settings
from django.test import AsyncClient

from config.api import api
from config.fast_asgi import PlatformASGIHandler
from tests.asgi import asgi_request


def _body_operations() -> list[tuple[str, str, bool]]:
    schema = api.get_openapi_schema()
    found = []
    for raw_path, methods in schema["paths"].items():
        for method, op in methods.items():
            if "requestBody" not in op:
                continue
            path = re.sub(r"\{[^}]+\}", "1", raw_path)
            public = op.get("security") in (None, [])
            found.append((method.upper(), path, public))
    return found


BODY_OPERATIONS = _body_operations()
BAD_BODIES = {
    "malformed_json": b'{"email": "a@b.c",',
    "not_an_object": b"[1, 2, 3]",
    "wrong_types": json.dumps({"email": 12, "code": [1], "amount": "lots"}).encode(),
    "missing_fields": b"{}",
}


def assert_error_format(status: int, content_type: str, body: bytes) -> dict:
    assert 400 <= status < 500, (status, body[:200])
    assert content_type.startswith("application/json"), content_type
    error = json.loads(body)["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    return error


def test_the_api_has_operations_with_bodies():
    assert BODY_OPERATIONS, "no POST/PUT operation found: the body tests would test nothing"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", sorted(BAD_BODIES))
@pytest.mark.parametrize(("method", "path", "public"), BODY_OPERATIONS)
async def test_bad_body__fast_path__4xx_in_one_format(method, path, public, kind):
    response = await asgi_request(
        PlatformASGIHandler(),
        method,
        path,
        body=BAD_BODIES[kind],
        headers={"content-type": "application/json"},
    )

    error = assert_error_format(response.status, response.headers["content-type"], response.body)
    if public and kind in ("missing_fields", "wrong_types", "malformed_json", "not_an_object"):
        assert error.get("field"), error


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("method", "path", "public"), BODY_OPERATIONS)
async def test_oversized_body__fast_path__413_before_reading(method, path, public):
    body = b"{" + b" " * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + b"}"

    response = await asgi_request(
        PlatformASGIHandler(),
        method,
        path,
        body=body,
        headers={"content-type": "application/json"},
        chunk_size=64 * 1024,
    )

    error = assert_error_format(response.status, response.headers["content-type"], response.body)
    assert response.status == 413
    assert error == {
        "code": "payload_too_large",
        "message": "request body is too large",
        "field": "body",
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("method", "path", "public"), [op for op in BODY_OPERATIONS if op[2]])
async def test_oversized_body__stock_path__413(method, path, public):
    body = b'{"email": "' + b"a" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + b'"}'

    response = await AsyncClient().generic(method, path, body, content_type="application/json")

    assert_error_format(response.status_code, response["Content-Type"], response.content)
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/no-such-endpoint", 404, "not_found"),
        ("GET", "/api/", 404, "not_found"),
        ("DELETE", "/api/ping", 405, "method_not_allowed"),
        ("POST", "/api/health", 405, "method_not_allowed"),
    ],
)
async def test_unknown_path_or_method__json_error_not_html(method, path, status, code):
    response = await asgi_request(PlatformASGIHandler(), method, path)

    error = assert_error_format(response.status, response.headers["content-type"], response.body)
    assert response.status == status
    assert error["code"] == code
    assert b"<html" not in response.body.lower()


async def test_disallowed_host__json_error_not_html():
    response = await asgi_request(
        PlatformASGIHandler(), "GET", "/api/no-such", headers={"host": "evil.example"}
    )

    assert_error_format(response.status, response.headers["content-type"], response.body)
    assert response.status == 400


@pytest.mark.parametrize("query", [b"window=abc", b"window=0", b"window=999999"])
@pytest.mark.django_db(transaction=True)
async def test_bad_query_param__names_the_field(query, api_token):
    response = await asgi_request(
        PlatformASGIHandler(),
        "GET",
        "/api/metrics/routes",
        query_string=query,
        headers={"authorization": f"Bearer {api_token}"},
    )

    error = assert_error_format(response.status, response.headers["content-type"], response.body)
    assert error["field"] == "window"


async def test_private_endpoint__no_token__401_in_one_format():
    response = await asgi_request(PlatformASGIHandler(), "GET", "/api/metrics/routes")

    error = assert_error_format(response.status, response.headers["content-type"], response.body)
    assert response.status == 401
    assert error["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
