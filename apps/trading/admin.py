"""Wallets in the admin: who owns which public key. The sealed secret is never a field
here, not even read-only."""

from django.contrib import admin

from apps.trading.models import Wallet


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ("pubkey", "label", "user", "key_id", "archived", "created_at")
    list_filter = ("archived", "key_id")
    search_fields = ("pubkey", "label", "user__username", "user__email")
    fields = ("user", "label", "pubkey", "key_id", "nonce_account", "archived", "created_at")
    readonly_fields = ("user", "pubkey", "key_id", "nonce_account", "created_at")

    def has_add_permission(self, request) -> bool:
        return False  # wallets are generated or imported through the API, sealed there
