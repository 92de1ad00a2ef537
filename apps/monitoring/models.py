"""Launchpad tokens as the monitor sees them: durable state, trades, migrations, Pulse rules.

Rows are written in batches by the token-state processor (services/token_processor.py) when a
slot is fully delivered; the hot, per-update state lives in memory / Redis. Amounts in SOL are
Decimals (never floats): people trade real money on these numbers.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

PUBKEY = 44  # base58 of 32 bytes
SIGNATURE = 88  # base58 of 64 bytes

PERCENT = [MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))]


class Token(models.Model):
    """One launchpad (pump.fun) coin: identity, curve numbers, pool once migrated."""

    mint = models.CharField(max_length=PUBKEY, unique=True)
    name = models.CharField(max_length=64, blank=True, default="")
    symbol = models.CharField(max_length=32, blank=True, default="")
    uri = models.CharField(max_length=256, blank=True, default="")
    creator = models.CharField(max_length=PUBKEY, blank=True, default="")
    created_slot = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(null=True, blank=True, db_index=True)
    bonding_curve = models.CharField(max_length=PUBKEY, blank=True, default="")
    # Curve reserves (raw units) as of state_slot: the numbers below derive from them.
    virtual_sol_reserves = models.BigIntegerField(default=0)
    virtual_token_reserves = models.BigIntegerField(default=0)
    real_sol_reserves = models.BigIntegerField(default=0)
    real_token_reserves = models.BigIntegerField(default=0)
    token_total_supply = models.BigIntegerField(default=0)
    progress_pct = models.DecimalField(max_digits=7, decimal_places=4, default=Decimal(0))
    price_sol = models.DecimalField(max_digits=38, decimal_places=18, default=Decimal(0))
    market_cap_sol = models.DecimalField(max_digits=30, decimal_places=9, default=Decimal(0))
    complete = models.BooleanField(default=False)
    # null until migrated; socials: null = not known yet, "" = known to have none.
    pool = models.CharField(max_length=PUBKEY, null=True, blank=True)  # noqa: DJ001
    migrated_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Known only from the holder book the monitor keeps (post-trade token balances).
    holders = models.IntegerField(null=True, blank=True)
    dev_holding_pct = models.DecimalField(max_digits=7, decimal_places=4, null=True, blank=True)
    top10_pct = models.DecimalField(max_digits=7, decimal_places=4, null=True, blank=True)
    # From the metadata uri's JSON, once fetched (not yet).
    twitter = models.CharField(max_length=256, null=True, blank=True)  # noqa: DJ001
    telegram = models.CharField(max_length=256, null=True, blank=True)  # noqa: DJ001
    website = models.CharField(max_length=256, null=True, blank=True)  # noqa: DJ001
    last_trade_at = models.DateTimeField(null=True, blank=True)
    # Last slot whose updates this row reflects: a replay at or below it changes nothing.
    state_slot = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["-progress_pct"], name="token_progress_idx"),
            models.Index(fields=["bonding_curve"], name="token_curve_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol or '?'} {self.mint}"


class TokenTrade(models.Model):
    """A buy or sell, on the curve or in the PumpSwap pool; one row per event in a transaction."""

    class Side(models.TextChoices):
        BUY = "buy"
        SELL = "sell"

    class Venue(models.TextChoices):
        CURVE = "curve"
        POOL = "pool"

    signature = models.CharField(max_length=SIGNATURE)
    index = models.PositiveIntegerField(help_text="the event's position within its transaction")
    mint = models.CharField(max_length=PUBKEY, db_index=True)
    venue = models.CharField(max_length=8, choices=Venue.choices, default=Venue.CURVE)
    side = models.CharField(max_length=4, choices=Side.choices)
    sol_amount = models.DecimalField(max_digits=30, decimal_places=9)
    token_amount = models.DecimalField(max_digits=30, decimal_places=6)
    user = models.CharField(max_length=PUBKEY)
    slot = models.BigIntegerField()
    traded_at = models.DateTimeField()
    price_sol = models.DecimalField(max_digits=38, decimal_places=18)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["signature", "index"], name="token_trade_once"),
        ]
        indexes = [models.Index(fields=["mint", "-slot"], name="trade_mint_slot_idx")]

    def __str__(self) -> str:
        return f"{self.side} {self.token_amount} {self.mint} @ {self.price_sol}"


class TokenHolding(models.Model):
    """A token account's balance, from post-trade token balances: the holder book behind
    `Token.holders`, `top10_pct` and `dev_holding_pct`, written with the token row so a
    restart resumes the book exactly where the row's state_slot says."""

    mint = models.CharField(max_length=PUBKEY)
    account = models.CharField(max_length=PUBKEY)
    owner = models.CharField(max_length=PUBKEY)
    amount = models.DecimalField(max_digits=20, decimal_places=0, help_text="raw units (u64)")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mint", "account"], name="token_holding_once"),
        ]

    def __str__(self) -> str:
        return f"{self.owner} holds {self.amount} of {self.mint}"


class MigrationEvent(models.Model):
    """A stage of a coin's graduation. The unique (mint, stage) makes each fire exactly once."""

    class Stage(models.TextChoices):
        CURVE_COMPLETE = "curve_complete"
        MIGRATED = "migrated"

    mint = models.CharField(max_length=PUBKEY)
    stage = models.CharField(max_length=16, choices=Stage.choices)
    pool = models.CharField(max_length=PUBKEY, null=True, blank=True)  # noqa: DJ001 (curve stage)
    signature = models.CharField(max_length=SIGNATURE)
    slot = models.BigIntegerField()
    occurred_at = models.DateTimeField()
    # Set once the event is on the bus; a crash in between is republished at the next start.
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mint", "stage"], name="migration_stage_once"),
        ]
        indexes = [models.Index(fields=["-occurred_at"], name="migration_time_idx")]

    def __str__(self) -> str:
        return f"{self.stage} {self.mint} @ {self.slot}"


class PulseRules(models.Model):
    """How the Pulse board sorts live tokens into columns; staff edit the one row in the admin.

    Defaults follow what the leading terminals' clones document (solana-facts.md §6): Final
    Stretch from 80 % bonding progress, Migrated only on the on-chain migration (never by
    percentage), New Pairs a few minutes old.
    """

    final_stretch_progress_pct = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal(80),
        validators=PERCENT,
        help_text="bonding-curve progress (%) from which a token is in Final Stretch",
    )
    new_listing_minutes = models.PositiveIntegerField(
        default=10,
        validators=[MinValueValidator(1)],
        help_text="New Pairs lists a token until it is this many minutes old",
    )
    final_listing_minutes = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(1)],
        help_text="Final Stretch lists a token while it traded within this many minutes",
    )
    migrated_listing_minutes = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(1)],
        help_text="Migrated lists a token for this many minutes after its migration",
    )
    min_market_cap_sol = models.DecimalField(
        max_digits=20,
        decimal_places=9,
        default=Decimal(0),
        validators=[MinValueValidator(Decimal(0))],
        help_text="tokens below this market cap (SOL) are not listed in any column",
    )
    column_size = models.PositiveIntegerField(
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(500)],
        help_text="most tokens a column returns",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Pulse rules"
        verbose_name_plural = "Pulse rules"

    def __str__(self) -> str:
        return "Pulse rules"

    def save(self, *args, **kwargs) -> None:
        self.pk = 1  # one row: editing always edits the rules in force
        super().save(*args, **kwargs)
