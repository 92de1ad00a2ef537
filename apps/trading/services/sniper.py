"""Sniper mode: rules that buy the moment the monitor reports a matching token.

The sniper runs beside the monitor (apps/monitoring/services/monitor_runner.py starts it
when SNIPER_ENABLED) and listens on the bus: `pulse` for new tokens and Final Stretch
entries, `migrations` for migrations. The path from an event to the bundles on the wire
has no queue hop: the decision is taken here, the order row written, and the order
executed on this event loop (execution.execute_order), as an ordinary order would be by
a Celery worker.

Per rule and event: the cheap filters first (name and symbol patterns, creator allow and
deny lists, dev holding), then the limits (per hour, per day, total budget), then the
safety check when the rule asks for one. Every decision, bought or skipped, is stored with
its reason, once: SniperDecision is unique per (rule, mint), so an event seen twice (a
reconnect replaying it, two sniper processes) decides and buys once.

The global kill switch (SniperSwitch, toggled in the admin, and SNIPER_ENABLED in the
environment) stops every rule at once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import IntegrityError
from django.db.models import Count, Sum
from django.utils import timezone
from solders.hash import Hash
from solders.pubkey import Pubkey

from apps.trading.models import (
    SafetyMinimum,
    SniperDecision,
    SniperRule,
    SniperSwitch,
    SniperTrigger,
)

log = logging.getLogger(__name__)

SAFETY_RANK = {"danger": 0, "caution": 1, "safe": 2}
MINIMUM_RANK = {SafetyMinimum.ANY: 0, SafetyMinimum.CAUTION: 1, SafetyMinimum.SAFE: 2}
SNIPER_TOPICS = ["pulse", "migrations"]
LAMPORTS_PER_SOL = Decimal(1_000_000_000)


@dataclass(frozen=True)
class Candidate:
    """A token a rule may buy, as the event described it."""

    mint: str
    trigger: str
    event_id: str
    name: str = ""
    symbol: str = ""
    creator: str = ""
    dev_holding_pct: Decimal | None = None
    seen_at: float = field(default_factory=time.perf_counter)


def candidate_from_event(
    topic: str, event_type: str, event_id: str, data: dict
) -> Candidate | None:
    """The trigger an event stands for, or None for events no rule acts on."""
    mint = data.get("mint")
    if not isinstance(mint, str):
        return None
    if topic == "migrations":
        if data.get("stage") != "migrated":
            return None
        trigger = SniperTrigger.MIGRATED
    elif topic == "pulse" and event_type == "token.created" and data.get("column") == "new":
        trigger = SniperTrigger.NEW_TOKEN
    elif topic == "pulse" and event_type == "token.moved" and data.get("column") == "final":
        trigger = SniperTrigger.FINAL_STRETCH
    else:
        return None
    dev = data.get("dev_holding_pct")
    return Candidate(
        mint=mint,
        trigger=trigger,
        event_id=event_id,
        name=str(data.get("name") or ""),
        symbol=str(data.get("symbol") or ""),
        creator=str(data.get("creator") or ""),
        dev_holding_pct=Decimal(str(dev)) if dev is not None else None,
    )


def filter_reason(rule: SniperRule, candidate: Candidate) -> str | None:
    """Why the rule's filters reject the candidate, or None when they pass."""
    if rule.name_pattern and not re.search(rule.name_pattern, candidate.name, re.IGNORECASE):
        return f"name {candidate.name!r} does not match {rule.name_pattern!r}"
    if rule.symbol_pattern and not re.search(rule.symbol_pattern, candidate.symbol, re.IGNORECASE):
        return f"symbol {candidate.symbol!r} does not match {rule.symbol_pattern!r}"
    if rule.creator_allow and candidate.creator not in rule.creator_allow:
        return "creator not on the allow list"
    if candidate.creator in (rule.creator_deny or ()):
        return "creator on the deny list"
    if rule.max_dev_holding_pct is not None:
        if candidate.dev_holding_pct is None:
            return "dev holding unknown"
        if candidate.dev_holding_pct > rule.max_dev_holding_pct:
            return f"dev holds {candidate.dev_holding_pct}% (max {rule.max_dev_holding_pct}%)"
    return None


@dataclass
class RuleUsage:
    """What a rule has bought: the limits are checked against it without a query."""

    spent_lamports: int = 0
    buys: list[float] = field(default_factory=list)  # unix times of buys in the last day

    def limit_reason(self, rule: SniperRule, now: float) -> str | None:
        self.buys = [t for t in self.buys if now - t < 86_400]
        if self.spent_lamports + rule.amount_lamports > rule.budget_lamports:
            return f"budget spent ({self.spent_lamports} of {rule.budget_lamports} lamports)"
        if rule.max_per_day is not None and len(self.buys) >= rule.max_per_day:
            return f"daily limit reached ({rule.max_per_day})"
        last_hour = sum(1 for t in self.buys if now - t < 3_600)
        if rule.max_per_hour is not None and last_hour >= rule.max_per_hour:
            return f"hourly limit reached ({rule.max_per_hour})"
        return None


class Sniper:
    """Holds the enabled rules in memory and turns events into decisions and orders."""

    def __init__(self, *, execute=None, safety=None) -> None:
        from apps.trading.services.execution import execute_order

        self._execute = execute or execute_order
        self._safety = safety or _safety_level
        self.rules: list[SniperRule] = []
        self.usage: dict[int, RuleUsage] = {}
        self.switch_on = True
        self.loaded_at = 0.0
        self._tasks: set[asyncio.Task] = set()
        # Per wallet, opened once: the signer and the nonce value the next buy carries.
        self._signers: dict[int, Any] = {}
        self._nonce_values: dict[int, str] = {}

    async def load(self) -> None:
        """Enabled rules, the kill switch and each rule's usage, from the database."""
        switch = await SniperSwitch.objects.filter(pk=1).afirst()
        self.switch_on = settings.SNIPER_ENABLED and (switch is None or switch.enabled)
        self.rules = [
            rule
            async for rule in SniperRule.objects.filter(enabled=True, wallet__archived=False)
            .select_related("wallet")
            .order_by("pk")
        ]
        day_ago = timezone.now() - timedelta(days=1)
        bought = SniperDecision.objects.filter(
            rule__in=[r.pk for r in self.rules], outcome=SniperDecision.Outcome.BOUGHT
        )
        totals = {
            row["rule"]: row
            async for row in bought.values("rule").annotate(
                spent=Sum("amount_lamports"), n=Count("pk")
            )
        }
        recent: dict[int, list[float]] = {}
        async for rule_id, at in bought.filter(created_at__gte=day_ago).values_list(
            "rule", "created_at"
        ):
            recent.setdefault(rule_id, []).append(at.timestamp())
        self.usage = {
            rule.pk: RuleUsage(
                spent_lamports=int((totals.get(rule.pk) or {}).get("spent") or 0),
                buys=recent.get(rule.pk, []),
            )
            for rule in self.rules
        }
        self.loaded_at = time.monotonic()

    async def on_event(self, topic: str, event_type: str, event_id: str, data: dict) -> list:
        """Decide for every rule the event triggers; returns the stored decisions."""
        candidate = candidate_from_event(topic, event_type, event_id, data)
        if candidate is None or not self.switch_on:
            return []
        decisions = []
        for rule in self.rules:
            if rule.trigger != candidate.trigger:
                continue
            decision = await self._decide(rule, candidate)
            if decision is not None:
                decisions.append(decision)
        return decisions

    async def _decide(self, rule: SniperRule, candidate: Candidate) -> SniperDecision | None:
        reason = filter_reason(rule, candidate)
        usage = self.usage.setdefault(rule.pk, RuleUsage())
        if reason is None:
            reason = usage.limit_reason(rule, time.time())
        if reason is None and rule.min_safety != SafetyMinimum.ANY:
            level = await self._safety(candidate.mint)
            if SAFETY_RANK.get(level, -1) < MINIMUM_RANK[rule.min_safety]:
                reason = f"safety {level} is below the rule's minimum ({rule.min_safety})"
        if reason is None:
            fast = await self._fast_buy(rule, candidate)
            if fast is not _NOT_FAST:
                if fast is not None:
                    usage.spent_lamports += rule.amount_lamports
                    usage.buys.append(time.time())
                return fast
        outcome = SniperDecision.Outcome.SKIPPED if reason else SniperDecision.Outcome.BOUGHT
        try:
            decision = await SniperDecision.objects.acreate(
                rule=rule,
                mint=candidate.mint,
                trigger=candidate.trigger,
                event_id=candidate.event_id,
                outcome=outcome,
                reason=reason or "matched",
                amount_lamports=0 if reason else rule.amount_lamports,
            )
        except IntegrityError:
            return None  # already decided for this mint: the event was seen before
        if reason:
            return decision
        usage.spent_lamports += rule.amount_lamports
        usage.buys.append(time.time())
        await self._buy(rule, candidate, decision)
        return decision

    async def _fast_buy(self, rule: SniperRule, candidate: Candidate):
        """The buy with nothing between the event and the engines but the quote (one chain
        read), signing, and one database transaction that stores the decision and the
        order with its signed copies (the commit point) and takes the wallet's nonce.
        Returns the decision, None if the mint was decided before, or _NOT_FAST when the
        ordinary path must take it (the wallet busy with another order, no nonce account
        yet, a priority level to resolve, no known nonce value)."""
        from apps.trading.services import execution
        from apps.trading.services import order_builder as builder
        from apps.trading.services.engines import enabled_engines, engine
        from apps.trading.services.order_signing import FALLBACK_ROUTE

        wallet = rule.wallet
        if not wallet.nonce_account or rule.compute_unit_price is None:
            return _NOT_FAST
        nonce_value = self._nonce_values.get(wallet.pk)
        if nonce_value is None:
            from apps.trading.services.nonce import read_nonce_value

            nonce_value = await read_nonce_value(wallet.nonce_account)
            if nonce_value is None:
                return _NOT_FAST
            self._nonce_values[wallet.pk] = nonce_value
        signer = self._signers.get(wallet.pk)
        if signer is None:
            from apps.trading.services.wallets import wallet_keypair

            signer = self._signers[wallet.pk] = wallet_keypair(wallet)
        try:
            plan = await builder.plan_order(
                wallet=signer.pubkey(),
                mint=candidate.mint,
                side="buy",
                amount=rule.amount_lamports,
                slippage_bps=rule.slippage_bps,
                compute_unit_price=rule.compute_unit_price,
                compute_unit_limit=settings.ORDER_COMPUTE_UNIT_LIMIT,
            )
        except builder.OrderBuildError:
            return _NOT_FAST  # the ordinary path records why
        engines = enabled_engines()
        tips: dict[str, builder.Tip | None] = {
            name: builder.Tip(
                max(rule.tip_lamports, engine(name).min_tip_lamports),
                engine(name).tip_account(len(self.usage.get(rule.pk, RuleUsage()).buys)),
            )
            for name in engines
        }
        tips[FALLBACK_ROUTE] = None
        built = builder.build_copies(
            plan,
            signer=signer,
            tips=tips,
            nonce=builder.DurableNonce(
                Pubkey.from_string(wallet.nonce_account), Hash.from_string(nonce_value)
            ),
        )
        stored = await _store_fast_buy(rule, candidate, plan, built, engines, nonce_value)
        if stored is None or stored is _NOT_FAST:
            return stored
        decision, order = stored
        task = asyncio.get_running_loop().create_task(self._finish(order, execution))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return decision

    async def _finish(self, order, execution) -> None:
        try:
            await execution._submit(order)
            await self._execute(order.pk)
        finally:
            self._nonce_values.pop(order.wallet_id, None)  # the nonce has moved on

    async def _buy(self, rule: SniperRule, candidate: Candidate, decision: SniperDecision) -> None:
        from apps.trading.services.orders import OrderRequest, place_order

        try:
            order, _ = await place_order(
                user_id=rule.owner_id,
                request=OrderRequest(
                    idempotency_key=f"sniper:{rule.pk}:{candidate.mint}",
                    wallet=rule.wallet.pubkey,
                    mint=candidate.mint,
                    side="buy",
                    amount_kind="sol",
                    amount=Decimal(rule.amount_lamports) / LAMPORTS_PER_SOL,
                    slippage_bps=rule.slippage_bps,
                    priority_level=(rule.priority_level or None)
                    if rule.compute_unit_price is None
                    else None,
                    compute_unit_price=rule.compute_unit_price,
                    tip_lamports=rule.tip_lamports,
                ),
                dispatch=False,
            )
        except Exception as exc:
            log.warning(
                "sniper rule %s: could not place the order for %s: %s", rule.pk, candidate.mint, exc
            )
            await SniperDecision.objects.filter(pk=decision.pk).aupdate(
                reason=f"matched, but the order was refused: {str(exc)[:150]}"
            )
            return
        await SniperDecision.objects.filter(pk=decision.pk).aupdate(order=order)
        decision.order = order
        task = asyncio.get_running_loop().create_task(self._execute(order.pk))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        """Follow the bus until cancelled, reloading rules every SNIPER_REFRESH_SECONDS."""
        from apps.realtime.bus import subscribe

        await self.load()
        async with subscribe(SNIPER_TOPICS) as events:
            while True:
                try:
                    event = await asyncio.wait_for(
                        events.__anext__(), timeout=settings.SNIPER_REFRESH_SECONDS
                    )
                except TimeoutError:
                    event = None
                if time.monotonic() - self.loaded_at >= settings.SNIPER_REFRESH_SECONDS:
                    await self.load()
                if event is None:
                    continue
                try:
                    await self.on_event(event.topic, event.type, event.id, event.data)
                except Exception:
                    log.exception("sniper: event %s on %s failed", event.id, event.topic)


_NOT_FAST = object()


@sync_to_async
def _store_fast_buy(rule, candidate, plan, built, engines, nonce_value):
    """Decision, order (building, its signed copies stored) and the wallet's nonce lease, in
    one transaction: all or nothing. None if the mint was decided before; _NOT_FAST if the
    wallet's nonce is held by another order."""
    from django.db import transaction

    from apps.trading.models import Order, OrderState, Wallet
    from apps.trading.services.execution import SignedCopy

    copies = [SignedCopy(route, b.signature, b.tx_bytes).stored() for route, b in built.items()]
    try:
        with transaction.atomic():
            decision = SniperDecision.objects.create(
                rule=rule,
                mint=candidate.mint,
                trigger=candidate.trigger,
                event_id=candidate.event_id,
                outcome=SniperDecision.Outcome.BOUGHT,
                reason="matched",
                amount_lamports=rule.amount_lamports,
            )
            order = Order.objects.create(
                user_id=rule.owner_id,
                wallet=rule.wallet,
                idempotency_key=f"sniper:{rule.pk}:{candidate.mint}",
                mint=candidate.mint,
                side="buy",
                amount_kind="sol",
                amount=Decimal(rule.amount_lamports),
                mint_decimals=6,  # pump.fun mints; a buy is sized in SOL anyway
                slippage_bps=rule.slippage_bps,
                compute_unit_price=rule.compute_unit_price,
                tip_lamports=rule.tip_lamports,
                engines=engines,
                state=OrderState.BUILDING,
                venue=plan.venue.value,
                quote=plan.quote.as_dict(),
                nonce_account=rule.wallet.nonce_account,
                nonce_value=nonce_value,
                signed_transactions=copies,
            )
            taken = Wallet.objects.filter(pk=rule.wallet_id, nonce_holder__isnull=True).update(
                nonce_holder=order.pk
            )
            if not taken:
                raise _WalletBusy
            decision.order = order
            decision.save(update_fields=["order"])
    except IntegrityError:
        return None
    except _WalletBusy:
        return _NOT_FAST
    order.wallet = rule.wallet
    return decision, order


class _WalletBusy(Exception):
    pass


async def _safety_level(mint: str) -> str:
    """The token safety level (safe / caution / danger); danger when it cannot be checked."""
    from apps.chain.rpc_pool import rpc_pool
    from apps.trading.services.safety import token_safety

    try:
        report = await token_safety(mint=mint, rpc=rpc_pool())
    except Exception as exc:
        log.warning("sniper: safety check of %s failed: %s", mint, exc)
        return "danger"
    return report.level


__all__ = ["Candidate", "Sniper", "candidate_from_event", "filter_reason"]
