"""Email OTP login end to end: request, mail over real SMTP, verify, token."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from apps.ingestion.models import LoginCode

from .conftest import assert_error, free_port, wrong_code

pytestmark = pytest.mark.django_db

EMAIL = "ada@example.com"


def test_login__new_email__mails_code_and_token_opens_me(auth_api, smtp_inbox):
    requested = auth_api.request_code(EMAIL)

    assert requested.status_code == 202
    assert requested.json() == {"sent": True, "expires_in": 600}
    [message] = smtp_inbox.to(EMAIL)
    assert message["Subject"] == "Your login code"
    code = smtp_inbox.code_for(EMAIL)

    verified = auth_api.verify(EMAIL, code)

    assert verified.status_code == 200
    assert verified["Cache-Control"] == "no-store"
    body = verified.json()
    user = User.objects.get(username=EMAIL)
    assert body["user"] == {"id": user.pk, "email": EMAIL}
    assert body["created"] is True
    assert body["token"].startswith("tp_")
    assert not user.has_usable_password()

    me = auth_api.call("get", "/api/auth/me", body["token"])

    assert me.status_code == 200
    assert me.json() == {"id": user.pk, "email": EMAIL, "token_id": body["token_id"]}
    leaked = [code, *auth_api.secrets_at_rest()]
    for response in auth_api.responses:
        assert not any(secret in response.content.decode() for secret in leaked)


@pytest.mark.django_db(transaction=True)
async def test_login__async_client__token_opens_me(smtp_inbox, async_client):
    client = async_client

    requested = await client.post(
        "/api/auth/otp/request", {"email": EMAIL}, content_type="application/json"
    )
    verified = await client.post(
        "/api/auth/otp/verify",
        {"email": EMAIL, "code": smtp_inbox.code_for(EMAIL)},
        content_type="application/json",
    )
    token = verified.json()["token"]
    me = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})

    assert (requested.status_code, verified.status_code, me.status_code) == (202, 200, 200)
    assert me.json()["email"] == EMAIL


def test_login__existing_user__same_account_not_created(auth_api):
    user = User.objects.create_user(username=EMAIL, email=EMAIL)

    body = auth_api.login(EMAIL)

    assert body["created"] is False
    assert body["user"]["id"] == user.pk
    assert User.objects.count() == 1


def test_request__existing_and_new_email__same_answer(auth_api, smtp_inbox):
    User.objects.create_user(username=EMAIL, email=EMAIL)

    existing = auth_api.request_code(EMAIL)
    new = auth_api.request_code("newcomer@example.com")

    assert (existing.status_code, existing.json()) == (new.status_code, new.json())
    assert sorted(existing.headers) == sorted(new.headers)
    assert len(smtp_inbox.to(EMAIL)) == len(smtp_inbox.to("newcomer@example.com")) == 1
    assert User.objects.count() == 1  # a request never makes an account


def test_login__email_case_and_spaces__one_normalized_account(auth_api, smtp_inbox):
    auth_api.request_code("  Ada@Example.COM ")

    body = auth_api.verify("ADA@example.com", smtp_inbox.code_for(EMAIL)).json()

    assert body["user"]["email"] == EMAIL
    assert User.objects.get().username == EMAIL


def test_request__code_at_rest__only_its_hmac(auth_api, smtp_inbox):
    auth_api.request_code(EMAIL)
    code = smtp_inbox.code_for(EMAIL)

    stored = LoginCode.objects.get(email=EMAIL)

    assert len(stored.code_hash) == 64 and code not in stored.code_hash
    assert code not in json.dumps(list(LoginCode.objects.values()), default=str)


def test_verify__wrong_code__invalid_code_and_one_attempt_counted(auth_api, smtp_inbox):
    auth_api.request_code(EMAIL)

    response = auth_api.verify(EMAIL, wrong_code(smtp_inbox.code_for(EMAIL)))

    assert_error(response, status=400, code="invalid_code", field="code")
    assert LoginCode.objects.get(email=EMAIL).attempts == 1
    assert not User.objects.exists()


def test_verify__no_pending_code__invalid_code(auth_api):
    response = auth_api.verify(EMAIL, "123456")

    assert_error(response, status=400, code="invalid_code", field="code")


def test_verify__expired_code__code_expired(auth_api, smtp_inbox):
    auth_api.request_code(EMAIL)
    LoginCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = auth_api.verify(EMAIL, smtp_inbox.code_for(EMAIL))

    assert_error(response, status=400, code="code_expired", field="code")


def test_verify__ttl_setting__code_lives_that_long(auth_api, settings):
    settings.OTP_TTL_SECONDS = 120

    response = auth_api.request_code(EMAIL)

    stored = LoginCode.objects.get(email=EMAIL)
    assert response.json()["expires_in"] == 120
    assert stored.expires_at - stored.created_at == timedelta(seconds=120)


def test_verify__max_wrong_tries__right_code_refused(auth_api, smtp_inbox, settings):
    auth_api.request_code(EMAIL)
    code = smtp_inbox.code_for(EMAIL)
    tries = [auth_api.verify(EMAIL, wrong_code(code)) for _ in range(settings.OTP_MAX_ATTEMPTS)]

    right = auth_api.verify(EMAIL, code)

    assert [r.json()["error"]["code"] for r in tries] == ["invalid_code"] * (
        settings.OTP_MAX_ATTEMPTS - 1
    ) + ["too_many_attempts"]
    assert_error(right, status=400, code="too_many_attempts", field="code")
    assert not User.objects.exists()


def test_request__new_code__supersedes_the_pending_one(auth_api, smtp_inbox):
    auth_api.request_code(EMAIL)
    first = smtp_inbox.code_for(EMAIL)
    auth_api.request_code(EMAIL)
    second = smtp_inbox.code_for(EMAIL)

    stale = auth_api.verify(EMAIL, first) if first != second else None
    fresh = auth_api.verify(EMAIL, second)

    if stale is not None:
        assert_error(stale, status=400, code="invalid_code", field="code")
    assert fresh.status_code == 200
    assert [c.status for c in LoginCode.objects.order_by("created_at")] == [
        "superseded",
        "consumed",
    ]


def test_verify__code_used_twice__second_refused(auth_api, smtp_inbox):
    auth_api.login(EMAIL)

    again = auth_api.verify(EMAIL, smtp_inbox.code_for(EMAIL))

    assert_error(again, status=400, code="invalid_code", field="code")


def test_verify__disabled_account__403(auth_api):
    User.objects.create_user(username=EMAIL, email=EMAIL, is_active=False)
    auth_api.request_code(EMAIL)

    response = auth_api.verify(EMAIL, auth_api.inbox.code_for(EMAIL))

    assert_error(response, status=403, code="account_disabled", field="email")


def test_request__smtp_unreachable__503_email_unavailable(auth_api, settings):
    settings.EMAIL_PORT = free_port()  # nothing listens there

    response = auth_api.request_code(EMAIL)

    assert_error(response, status=503, code="email_unavailable")
