"""Trading data: custodial wallets, orders and their attempts, sniper rules and decisions.

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
    # The order holding the nonce while its copies are out: one order per wallet at a time.
    nonce_holder = models.BigIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    archived = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["user", "archived"], name="wallet_user_active")]

    def __str__(self) -> str:
        return f"wallet {self.pubkey}" + (f" ({self.label})" if self.label else "")

    def __repr__(self) -> str:
        return f"<Wallet {self.pk} {self.pubkey}>"


class OrderState(models.TextChoices):
    PENDING = "pending"
    BUILDING = "building"
    SUBMITTED = "submitted"
    LANDED = "landed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


TERMINAL_ORDER_STATES = frozenset(
    {OrderState.LANDED, OrderState.FAILED, OrderState.EXPIRED, OrderState.CANCELLED}
)


class Order(models.Model):
    """A buy or sell a user asked for. Moves pending → building → submitted → landed |
    failed | expired (or cancelled while pending). Every state change is a conditional
    UPDATE on the state it leaves, so two workers can never both advance one order.

    `signed_transactions` is the commit point of at-most-once: once it is stored, the order
    is only ever (re)sent as those exact bytes. The copies (one per engine, each with that
    engine's tip, plus the direct-RPC fallback copy) share one durable nonce value, so at
    most one of them can ever execute."""

    class Side(models.TextChoices):
        BUY = "buy"
        SELL = "sell"

    class AmountKind(models.TextChoices):
        SOL = "sol", "SOL in (lamports)"
        TOKENS = "tokens", "tokens (raw base units)"
        PERCENT = "percent", "percent of the holding (basis points)"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    wallet = models.ForeignKey("Wallet", on_delete=models.PROTECT, related_name="orders")
    idempotency_key = models.CharField(max_length=64)
    mint = models.CharField(max_length=44)
    side = models.CharField(max_length=4, choices=Side.choices)
    amount_kind = models.CharField(max_length=7, choices=AmountKind.choices)
    # Raw integer amounts (lamports, token base units or basis points) fit in 20 digits.
    amount = models.DecimalField(max_digits=20, decimal_places=0)
    mint_decimals = models.PositiveSmallIntegerField()
    slippage_bps = models.PositiveIntegerField()
    priority_level = models.CharField(max_length=16, blank=True)
    # Micro-lamports per compute unit: given, or resolved from priority_level at build.
    compute_unit_price = models.PositiveBigIntegerField(null=True, blank=True)
    tip_lamports = models.PositiveBigIntegerField()
    engines = models.JSONField(default=list)

    state = models.CharField(max_length=10, choices=OrderState.choices, default=OrderState.PENDING)
    venue = models.CharField(max_length=16, blank=True)
    quote = models.JSONField(null=True, blank=True)
    nonce_account = models.CharField(max_length=44, blank=True)
    nonce_value = models.CharField(max_length=44, blank=True)
    # [{"route": "jito"|"bloxroute"|"nextblock"|"rpc", "signature": ..., "tx": base64}, ...]
    signed_transactions = models.JSONField(null=True, blank=True)
    landed_signature = models.CharField(max_length=88, blank=True)
    landed_slot = models.PositiveBigIntegerField(null=True, blank=True)
    landed_route = models.CharField(max_length=16, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"], name="order_one_per_idempotency_key"
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="order_user_recent"),
            models.Index(fields=["state", "updated_at"], name="order_state_age"),
        ]

    def __str__(self) -> str:
        return f"order {self.pk} {self.side} {self.mint} ({self.state})"


class OrderAttempt(models.Model):
    """One submission of an order's copy: to an engine, or directly through RPC."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="attempts")
    route = models.CharField(max_length=16)  # jito | bloxroute | nextblock | rpc
    accepted = models.BooleanField(default=False)
    bundle_id = models.CharField(max_length=128, blank=True)
    signatures = models.JSONField(default=list)
    slot = models.PositiveBigIntegerField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["order", "created_at"], name="attempt_order_time")]

    def __str__(self) -> str:
        return f"attempt {self.route} for order {self.order_id}"


class SniperTrigger(models.TextChoices):
    NEW_TOKEN = "new_token", "a new token launches"
    FINAL_STRETCH = "final_stretch", "a token enters the Final Stretch"
    MIGRATED = "migrated", "a token migrates to PumpSwap"


class SafetyMinimum(models.TextChoices):
    ANY = "any", "no safety check"
    CAUTION = "caution", "caution or safe"
    SAFE = "safe", "safe only"


class SniperRule(models.Model):
    """Buy automatically when the monitor reports a matching token. One buy per mint per
    rule (SniperDecision's unique constraint), within hourly, daily and total limits."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sniper_rules"
    )
    wallet = models.ForeignKey("Wallet", on_delete=models.PROTECT, related_name="sniper_rules")
    name = models.CharField(max_length=80)
    trigger = models.CharField(max_length=16, choices=SniperTrigger.choices)
    name_pattern = models.CharField(
        max_length=200, blank=True, help_text="regular expression on the token name (any case)"
    )
    symbol_pattern = models.CharField(
        max_length=200, blank=True, help_text="regular expression on the symbol (any case)"
    )
    creator_allow = models.JSONField(default=list, blank=True, help_text="only these creators")
    creator_deny = models.JSONField(default=list, blank=True, help_text="never these creators")
    min_safety = models.CharField(
        max_length=8, choices=SafetyMinimum.choices, default=SafetyMinimum.CAUTION
    )
    max_dev_holding_pct = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    amount_lamports = models.PositiveBigIntegerField(help_text="SOL spent per buy, in lamports")
    slippage_bps = models.PositiveIntegerField(default=1_000)
    priority_level = models.CharField(max_length=16, blank=True, default="high")
    compute_unit_price = models.PositiveBigIntegerField(null=True, blank=True)
    tip_lamports = models.PositiveBigIntegerField(default=100_000)
    max_per_hour = models.PositiveIntegerField(null=True, blank=True)
    max_per_day = models.PositiveIntegerField(null=True, blank=True)
    budget_lamports = models.PositiveBigIntegerField(help_text="total SOL this rule may spend")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"sniper rule {self.name!r} ({self.trigger})"


class SniperDecision(models.Model):
    """What a rule decided about a mint, and why. The unique (rule, mint) makes the
    decision, and so the buy, happen once however often the event is seen."""

    class Outcome(models.TextChoices):
        BOUGHT = "bought"
        SKIPPED = "skipped"

    rule = models.ForeignKey(SniperRule, on_delete=models.CASCADE, related_name="decisions")
    mint = models.CharField(max_length=44)
    trigger = models.CharField(max_length=16, choices=SniperTrigger.choices)
    event_id = models.CharField(max_length=48, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    reason = models.CharField(max_length=200)
    amount_lamports = models.PositiveBigIntegerField(default=0)
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="sniper_decisions"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "mint"], name="sniper_one_decision_per_mint")
        ]
        indexes = [models.Index(fields=["rule", "outcome", "created_at"], name="sniper_rule_spend")]

    def __str__(self) -> str:
        return f"{self.outcome} {self.mint} by rule {self.rule_id}: {self.reason}"


class SniperSwitch(models.Model):
    """The global kill switch (one row). Off: no rule fires, whatever its own state."""

    enabled = models.BooleanField(default=True)
    changed_at = models.DateTimeField(auto_now=True)
    changed_by = models.CharField(max_length=150, blank=True)

    def __str__(self) -> str:
        return "sniping on" if self.enabled else "sniping OFF (kill switch)"
