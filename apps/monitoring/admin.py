"""Staff views: the Pulse rules they tune, and read-only views of what the monitor recorded."""

from __future__ import annotations

from django.contrib import admin

from .models import MigrationEvent, PulseRules, Token, TokenTrade


@admin.register(PulseRules)
class PulseRulesAdmin(admin.ModelAdmin):
    list_display = (
        "final_stretch_progress_pct",
        "new_listing_minutes",
        "final_listing_minutes",
        "migrated_listing_minutes",
        "min_market_cap_sol",
        "column_size",
        "updated_at",
    )

    def has_add_permission(self, request) -> bool:
        return not PulseRules.objects.exists()  # one row: edit it, do not add another

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deleting would silently fall back to defaults


class ReadOnlyAdmin(admin.ModelAdmin):
    """The chain is the source of truth: staff look, the monitor writes."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Token)
class TokenAdmin(ReadOnlyAdmin):
    list_display = (
        "symbol",
        "name",
        "mint",
        "progress_pct",
        "market_cap_sol",
        "complete",
        "pool",
        "holders",
        "created_at",
    )
    list_filter = ("complete",)
    search_fields = ("mint", "symbol", "name", "creator")
    ordering = ("-created_at",)


@admin.register(TokenTrade)
class TokenTradeAdmin(ReadOnlyAdmin):
    list_display = ("mint", "venue", "side", "sol_amount", "token_amount", "user", "slot")
    list_filter = ("venue", "side")
    search_fields = ("mint", "signature", "user")
    ordering = ("-slot",)


@admin.register(MigrationEvent)
class MigrationEventAdmin(ReadOnlyAdmin):
    list_display = ("mint", "stage", "pool", "slot", "occurred_at", "published_at")
    list_filter = ("stage",)
    search_fields = ("mint", "signature", "pool")
    ordering = ("-occurred_at",)
