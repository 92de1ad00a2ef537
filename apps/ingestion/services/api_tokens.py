"""API tokens: issued at login, shown once, stored as SHA-256, revocable.

The raw token is "tp_" + 43 url-safe characters (256 bits). Only its SHA-256 and
its first 8 characters (for recognition in lists) are kept.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.utils import timezone

from apps.ingestion.exceptions import TokenNotFound
from apps.ingestion.models import ApiToken

TOKEN_PREFIX = "tp_"
DISPLAY_PREFIX_LENGTH = 8
# A token's last use is written at most this often, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_MAX_RAW_LENGTH = 128


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    raw: str  # handed to the user once; never stored


def api_token_hash(*, raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


def api_token_issue(*, user: AbstractBaseUser, name: str = "") -> IssuedToken:
    """Create a token for user; the raw value is only in the returned IssuedToken."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        key_hash=api_token_hash(raw_token=raw),
        prefix=raw[:DISPLAY_PREFIX_LENGTH],
    )
    return IssuedToken(token=token, raw=raw)


async def api_token_authenticate(*, raw_token: str) -> ApiToken | None:
    """The active token for raw_token, with its (active) user loaded; else None."""
    if not raw_token.startswith(TOKEN_PREFIX) or len(raw_token) > _MAX_RAW_LENGTH:
        return None
    try:
        token = await ApiToken.objects.select_related("user").aget(
            key_hash=api_token_hash(raw_token=raw_token), revoked_at__isnull=True
        )
    except ApiToken.DoesNotExist:
        return None
    if not token.user.is_active:
        return None
    await _touch_last_used(token=token)
    return token


async def api_token_user(*, raw_token: str):
    """The user of the active token raw_token, or None."""
    token = await api_token_authenticate(raw_token=raw_token)
    return token.user if token is not None else None


async def api_token_list(*, user_id: int) -> list[ApiToken]:
    """The user's tokens, revoked ones included, newest first."""
    return [t async for t in ApiToken.objects.filter(user_id=user_id).order_by("-created_at")]


async def api_token_revoke(*, user_id: int, token_id: int) -> None:
    """Revoke one of user_id's tokens; idempotent. Someone else's token is not found."""
    exists = await ApiToken.objects.filter(pk=token_id, user_id=user_id).aexists()
    if not exists:
        raise TokenNotFound("no such token")
    await ApiToken.objects.filter(pk=token_id, revoked_at__isnull=True).aupdate(
        revoked_at=timezone.now()
    )


def api_tokens_revoke(*, token_ids: Iterable[int]) -> int:
    """Revoke the given tokens (admin action); returns how many were still active."""
    return ApiToken.objects.filter(pk__in=list(token_ids), revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


async def _touch_last_used(*, token: ApiToken) -> None:
    now = timezone.now()
    cutoff = now - LAST_USED_RESOLUTION
    if token.last_used_at is not None and token.last_used_at > cutoff:
        return
    # Conditional, so concurrent requests on one token write it once.
    await ApiToken.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=cutoff), pk=token.pk
    ).aupdate(last_used_at=now)
    token.last_used_at = now
