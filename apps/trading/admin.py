"""Trading in the admin: wallets (the sealed secret is never a field, not even read-only),
orders and their attempts (read-only), sniper rules, their decisions and the kill switch."""

from django.contrib import admin

from apps.trading.models import (
    Order,
    OrderAttempt,
    SniperDecision,
    SniperRule,
    SniperSwitch,
    Wallet,
)


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ("pubkey", "label", "user", "key_id", "archived", "created_at")
    list_filter = ("archived", "key_id")
    search_fields = ("pubkey", "label", "user__username", "user__email")
    fields = ("user", "label", "pubkey", "key_id", "nonce_account", "archived", "created_at")
    readonly_fields = ("user", "pubkey", "key_id", "nonce_account", "created_at")

    def has_add_permission(self, request) -> bool:
        return False  # wallets are generated or imported through the API, sealed there


class OrderAttemptInline(admin.TabularInline):
    model = OrderAttempt
    extra = 0
    can_delete = False
    fields = ("route", "accepted", "bundle_id", "signatures", "slot", "latency_ms", "error")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Orders are the users' and the state machine's: staff read them, never edit them."""

    list_display = ("id", "user", "side", "mint", "amount", "state", "landed_route", "created_at")
    list_filter = ("state", "side", "venue", "landed_route")
    search_fields = ("mint", "wallet__pubkey", "idempotency_key", "landed_signature")
    exclude = ("signed_transactions",)  # transaction bytes: long and of no use on a page
    inlines = [OrderAttemptInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Order._meta.fields if f.name != "signed_transactions"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SniperRule)
class SniperRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "trigger", "enabled", "amount_lamports", "budget_lamports")
    list_filter = ("enabled", "trigger", "min_safety")
    search_fields = ("name", "owner__username", "wallet__pubkey")
    raw_id_fields = ("owner", "wallet")


@admin.register(SniperDecision)
class SniperDecisionAdmin(admin.ModelAdmin):
    list_display = ("created_at", "rule", "mint", "outcome", "reason", "order")
    list_filter = ("outcome", "trigger")
    search_fields = ("mint", "reason")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in SniperDecision._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(SniperSwitch)
class SniperSwitchAdmin(admin.ModelAdmin):
    """The global kill switch: untick `enabled` and no rule fires (within a second)."""

    list_display = ("__str__", "enabled", "changed_at", "changed_by")

    def save_model(self, request, obj, form, change) -> None:
        obj.pk = 1  # one row
        obj.changed_by = request.user.get_username()
        super().save_model(request, obj, form, change)
