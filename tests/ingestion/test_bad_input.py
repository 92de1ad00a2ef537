"""Bad input to the login endpoints: a 4xx in the one error format naming the field."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.ingestion.models import LoginCode

from .conftest import assert_error

pytestmark = pytest.mark.django_db

REQUEST, VERIFY = "/api/auth/otp/request", "/api/auth/otp/verify"
GOOD = '"email": "ada@example.com"'


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "field"),
    [
        (REQUEST, '{"email": "ada@', 400, "malformed_json", "body"),
        (VERIFY, "{" + GOOD + ', "code": }', 400, "malformed_json", "body"),
        (REQUEST, "{}", 422, "validation_error", "email"),
        (REQUEST, "[]", 422, "validation_error", "email"),
        (VERIFY, "{" + GOOD + "}", 422, "validation_error", "code"),
        (REQUEST, '{"email": 42}', 422, "validation_error", "email"),
        (REQUEST, '{"email": ["ada@example.com"]}', 422, "validation_error", "email"),
        (VERIFY, "{" + GOOD + ', "code": 123456}', 422, "validation_error", "code"),
        (REQUEST, '{"email": "ada"}', 422, "validation_error", "email"),
        (REQUEST, '{"email": "ada@example"}', 422, "validation_error", "email"),
        (
            REQUEST,
            '{"email": "ada@example.com\\nBcc: eve@example.com"}',
            422,
            "validation_error",
            "email",
        ),
        (REQUEST, '{"email": "' + "a" * 140 + '@example.com"}', 422, "validation_error", "email"),
        (VERIFY, "{" + GOOD + ', "code": "12345"}', 422, "validation_error", "code"),
        (VERIFY, "{" + GOOD + ', "code": "1234567"}', 422, "validation_error", "code"),
        (VERIFY, "{" + GOOD + ', "code": "12345a"}', 422, "validation_error", "code"),
        (
            VERIFY,
            "{" + GOOD + ', "code": "\u0661\u0662\u0663\u0664\u0665\u0666"}',
            422,
            "validation_error",
            "code",
        ),
    ],
    ids=[
        "request-truncated-json",
        "verify-truncated-json",
        "request-missing-email",
        "request-array-body",
        "verify-missing-code",
        "request-email-number",
        "request-email-list",
        "verify-code-number",
        "request-email-no-at",
        "request-email-no-tld",
        "request-email-header-injection",
        "request-email-too-long",
        "verify-code-short",
        "verify-code-long",
        "verify-code-letter",
        "verify-code-arabic-digits",
    ],
)
def test_login_endpoints__bad_input__4xx_naming_the_field(path, body, status, code, field):
    response = Client().post(path, body, content_type="application/json")

    assert_error(response, status=status, code=code, field=field)
    assert not LoginCode.objects.exists()


def test_request__body_too_large__413_in_error_format(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024

    response = Client().post(
        REQUEST, '{"email": "' + "a" * 2048 + '"}', content_type="application/json"
    )

    assert_error(response, status=413, code="payload_too_large", field="body")
