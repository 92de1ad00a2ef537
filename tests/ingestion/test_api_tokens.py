"""API tokens: bearer auth on private endpoints, listing, revoking, the admin action."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from apps.ingestion.models import ApiToken, LoginCode

from .conftest import assert_error

pytestmark = pytest.mark.django_db

ADA, BOB = "ada@example.com", "bob@example.com"


def assert_unauthorized(response) -> None:
    assert_error(response, status=401, code="unauthorized", field="Authorization")
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "token", [None, "tp_not-a-real-token", "not-even-prefixed", "tp_" + "x" * 500]
)
def test_me__missing_or_unknown_token__401(auth_api, token):
    assert_unauthorized(auth_api.call("get", "/api/auth/me", token))


def test_me__revoked_token__401(auth_api):
    login = auth_api.login(ADA)
    ApiToken.objects.filter(pk=login["token_id"]).update(revoked_at=timezone.now())

    assert_unauthorized(auth_api.call("get", "/api/auth/me", login["token"]))


def test_me__disabled_user__401(auth_api):
    login = auth_api.login(ADA)
    User.objects.filter(pk=login["user"]["id"]).update(is_active=False)

    assert_unauthorized(auth_api.call("get", "/api/auth/me", login["token"]))


def test_logout__current_token__revoked_and_refused(auth_api):
    login = auth_api.login(ADA)

    logout = auth_api.call("post", "/api/auth/logout", login["token"])

    assert logout.status_code == 204
    assert ApiToken.objects.get(pk=login["token_id"]).is_revoked
    assert_unauthorized(auth_api.call("get", "/api/auth/me", login["token"]))


def test_tokens_delete__own_other_token__revoked_current_still_works(auth_api):
    first = auth_api.login(ADA)
    second = auth_api.login(ADA)

    deleted = auth_api.call("delete", f"/api/auth/tokens/{first['token_id']}", second["token"])

    assert deleted.status_code == 204
    assert_unauthorized(auth_api.call("get", "/api/auth/me", first["token"]))
    assert auth_api.call("get", "/api/auth/me", second["token"]).status_code == 200


def test_tokens_delete__twice__idempotent(auth_api):
    first = auth_api.login(ADA)
    second = auth_api.login(ADA)
    path = f"/api/auth/tokens/{first['token_id']}"

    statuses = [auth_api.call("delete", path, second["token"]).status_code for _ in range(2)]

    assert statuses == [204, 204]


@pytest.mark.parametrize("whose", ["another user's", "nonexistent"])
def test_tokens_delete__not_callers_token__404_and_untouched(auth_api, whose):
    ada = auth_api.login(ADA)
    bob = auth_api.login(BOB)
    token_id = bob["token_id"] if whose == "another user's" else bob["token_id"] + 1000

    response = auth_api.call("delete", f"/api/auth/tokens/{token_id}", ada["token"])

    assert_error(response, status=404, code="not_found")
    assert auth_api.call("get", "/api/auth/me", bob["token"]).status_code == 200


def test_tokens_list__callers_tokens_only__no_secret_values(auth_api):
    first = auth_api.login(ADA)
    second = auth_api.login(ADA)
    auth_api.login(BOB)
    auth_api.call("post", "/api/auth/logout", first["token"])

    response = auth_api.call("get", "/api/auth/tokens", second["token"])

    assert response.status_code == 200
    listed = response.json()
    assert [(t["id"], t["revoked"]) for t in listed] == [
        (second["token_id"], False),
        (first["token_id"], True),
    ]
    assert listed[0]["prefix"] == second["token"][:8]
    assert set(listed[0]) == {"id", "name", "prefix", "created_at", "last_used_at", "revoked"}
    text = response.content.decode()
    assert first["token"] not in text and second["token"] not in text
    assert not any(secret in text for secret in auth_api.secrets_at_rest())


def test_token_at_rest__only_its_sha256(auth_api):
    login = auth_api.login(ADA)

    stored = ApiToken.objects.get(pk=login["token_id"])

    assert len(stored.key_hash) == 64
    assert login["token"] not in stored.key_hash
    assert stored.prefix == login["token"][:8]


def test_me__recently_used_token__one_query_and_last_used_untouched(
    auth_api, django_assert_num_queries
):
    login = auth_api.login(ADA)
    recently = timezone.now() - timedelta(seconds=30)
    ApiToken.objects.filter(pk=login["token_id"]).update(last_used_at=recently)

    with django_assert_num_queries(1):
        response = auth_api.call("get", "/api/auth/me", login["token"])

    assert response.status_code == 200
    assert ApiToken.objects.get(pk=login["token_id"]).last_used_at == recently


def test_me__token_unused_for_a_minute__last_used_written(auth_api):
    login = auth_api.login(ADA)
    long_ago = timezone.now() - timedelta(minutes=5)
    ApiToken.objects.filter(pk=login["token_id"]).update(last_used_at=long_ago)

    auth_api.call("get", "/api/auth/me", login["token"])

    assert ApiToken.objects.get(pk=login["token_id"]).last_used_at > long_ago


def test_admin_revoke_action__selected_tokens__revoked(auth_api, admin_client):
    ada = auth_api.login(ADA)
    bob = auth_api.login(BOB)

    response = admin_client.post(
        reverse("admin:ingestion_apitoken_changelist"),
        {"action": "revoke_selected", "_selected_action": [ada["token_id"]]},
    )

    assert response.status_code == 302
    assert_unauthorized(auth_api.call("get", "/api/auth/me", ada["token"]))
    assert auth_api.call("get", "/api/auth/me", bob["token"]).status_code == 200


def test_admin_lists__tokens_and_codes__no_hashes_shown(auth_api, admin_client):
    auth_api.login(ADA)
    auth_api.request_code(BOB)

    pages = [
        admin_client.get(reverse("admin:ingestion_apitoken_changelist")),
        admin_client.get(reverse("admin:ingestion_logincode_changelist")),
        admin_client.get(
            reverse("admin:ingestion_logincode_change", args=[LoginCode.objects.get(email=BOB).pk])
        ),
    ]

    assert [page.status_code for page in pages] == [200, 200, 200]
    html = "".join(page.content.decode() for page in pages)
    assert not any(secret in html for secret in auth_api.secrets_at_rest())
    assert auth_api.inbox.code_for(BOB) not in html
