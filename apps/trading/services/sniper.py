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

from django.conf import settings
from django.db import IntegrityError
from django.db.models import Count, Sum
from django.utils import timezone

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
