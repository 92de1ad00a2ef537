"""Trading data: custodial wallets (orders and sniper rules join them).

A wallet's secret key is stored only as AES-256-GCM ciphertext (services/wallets.py);
nothing here can show it: the model's text forms name the public key alone.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Wallet(models.Model):
    """A custodial trading wallet of one user."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="wallets"
    )
    label = models.CharField(max_length=64, blank=True)
    pubkey = models.CharField(max_length=44, unique=True)
    # nonce(12) || AES-256-GCM(secret key bytes) || tag(16), the pubkey as associated data.
    encrypted_secret = models.BinaryField(editable=False)
    key_id = models.CharField(max_length=16, help_text="which encryption key sealed it")
    # The wallet's durable-nonce account (orders advance it, so one copy lands at most).
    nonce_account = models.CharField(max_length=44, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    archived = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["user", "archived"], name="wallet_user_active")]

    def __str__(self) -> str:
        return f"wallet {self.pubkey}" + (f" ({self.label})" if self.label else "")

    def __repr__(self) -> str:
        return f"<Wallet {self.pk} {self.pubkey}>"
