"""Email one-time-password logins and the API tokens they issue.

Neither table holds a secret a reader could use: a LoginCode keeps an HMAC of its
code, an ApiToken the SHA-256 of its raw value (which is shown to the user once).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class LoginCode(models.Model):
    """A 6-digit code sent to an email; at most one is pending per email."""

    email = models.EmailField(max_length=254)
    code_hash = models.CharField(max_length=64, help_text="HMAC-SHA256 of the code")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0, help_text="wrong tries so far")
    consumed_at = models.DateTimeField(null=True, blank=True)
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # A new request supersedes the pending code in the same transaction; this
            # makes two concurrent requests for one email unable to leave two pending.
            # It is also the index that finds an email's pending code.
            models.UniqueConstraint(
                fields=["email"],
                condition=Q(consumed_at__isnull=True, superseded_at__isnull=True),
                name="logincode_one_pending_per_email",
            ),
        ]

    def __str__(self) -> str:
        return f"login code for {self.email} ({self.status})"

    @property
    def status(self) -> str:
        if self.consumed_at is not None:
            return "consumed"
        if self.superseded_at is not None:
            return "superseded"
        if self.attempts >= settings.OTP_MAX_ATTEMPTS:
            return "exhausted"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class ApiToken(models.Model):
    """A bearer token for the private API; revocable, never stored in the clear."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the token")
    prefix = models.CharField(max_length=8, help_text="first characters, for recognition")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="apitoken_user_created")]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user_id})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
