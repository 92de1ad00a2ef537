"""Rate limits on login: per email and per client address, 429 with Retry-After."""

from __future__ import annotations

import pytest

from apps.ingestion.services.rate_limit import rate_limit_hit, rate_parse

from .conftest import assert_error

pytestmark = pytest.mark.django_db

ADA = "ada@example.com"


def assert_rate_limited(response, *, window: int, field: str | None = None) -> None:
    assert_error(response, status=429, code="rate_limited", field=field)
    assert 1 <= int(response["Retry-After"]) <= window


def test_request__over_email_rate__429_and_no_mail(auth_api, smtp_inbox, settings):
    settings.OTP_RATE_PER_EMAIL = "2/3600"
    # From different addresses: the email's own limit is what stops the third.
    allowed = [auth_api.request_code(ADA, REMOTE_ADDR=f"10.0.0.{i}") for i in (1, 2)]

    refused = auth_api.request_code(ADA, REMOTE_ADDR="10.0.0.3")

    assert [r.status_code for r in allowed] == [202, 202]
    assert_rate_limited(refused, window=3600, field="email")
    assert len(smtp_inbox.to(ADA)) == 2
    assert auth_api.request_code("bob@example.com", REMOTE_ADDR="10.0.0.3").status_code == 202


def test_request__over_ip_rate__429_other_address_unaffected(auth_api, settings):
    settings.OTP_RATE_PER_IP = "2/3600"
    for i in range(2):
        auth_api.request_code(f"user{i}@example.com", REMOTE_ADDR="10.0.0.1")

    refused = auth_api.request_code("user9@example.com", REMOTE_ADDR="10.0.0.1")
    elsewhere = auth_api.request_code("user9@example.com", REMOTE_ADDR="10.0.0.2")

    assert_rate_limited(refused, window=3600)
    assert elsewhere.status_code == 202


@pytest.mark.parametrize(("trusted", "third_status"), [(True, 202), (False, 429)])
def test_request__x_forwarded_for__counts_only_when_trusted(
    auth_api, settings, trusted, third_status
):
    settings.OTP_RATE_PER_IP = "2/3600"
    settings.TRUST_X_FORWARDED_FOR = trusted
    for i in range(2):
        auth_api.request_code(f"user{i}@example.com", HTTP_X_FORWARDED_FOR="203.0.113.1")

    third = auth_api.request_code(
        "user9@example.com", HTTP_X_FORWARDED_FOR="203.0.113.2, 203.0.113.1"
    )

    assert third.status_code == third_status


def test_verify__over_ip_rate__429_even_with_right_code(auth_api, smtp_inbox, settings):
    settings.OTP_RATE_PER_IP = "3/3600"
    auth_api.request_code(ADA, REMOTE_ADDR="10.0.0.1")
    for _ in range(3):
        auth_api.verify("nobody@example.com", "000000", REMOTE_ADDR="10.0.0.2")

    refused = auth_api.verify(ADA, smtp_inbox.code_for(ADA), REMOTE_ADDR="10.0.0.2")

    assert_rate_limited(refused, window=3600)
    assert auth_api.verify(ADA, smtp_inbox.code_for(ADA), REMOTE_ADDR="10.0.0.3").status_code == 200


def test_rate_limit_hit__within_and_over_limit__retry_after_within_window():
    results = [rate_limit_hit(scope="test", key="k", rate="2/60") for _ in range(3)]

    assert results[:2] == [None, None]
    assert 1 <= results[2] <= 60


@pytest.mark.parametrize("rate", ["5", "x/60", "0/60", "5/0", "-1/60"])
def test_rate_parse__malformed__value_error(rate):
    with pytest.raises(ValueError):
        rate_parse(rate=rate)
