"""Executing an order: build → sign → submit to every engine → watch → direct fallback.

At most once, by construction:
- Every copy of an order (one per engine, each paying that engine's tip, plus the copy the
  direct-RPC fallback sends) uses the wallet's durable nonce as its blockhash and advances
  it first, so the chain executes at most one of them, whoever sends what, however often.
- The signed copies are stored before anything is sent (the commit point). From then on
  the order is only ever sent as those bytes: a worker that dies after signing and a second
  worker that picks the order up resend the same copies, never new ones.
- An order is declared expired only after its nonce has moved on (the platform advances it
  itself when the order times out), so no copy can land after the user was told it did not.
- Orders of one wallet take turns on its nonce account (a lease on the wallet row), so two
  orders never race for the same nonce value.

Every step is a conditional UPDATE on the state it leaves (`_move`): two workers running the
same order (a redelivered task) cannot both take a step, and each transition publishes the
order once, on the user's `orders:` topic.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from prometheus_client import Counter, Histogram

from apps.chain.rpc_pool import rpc_pool
from apps.trading.models import TERMINAL_ORDER_STATES, Order, OrderAttempt, OrderState, Wallet
from apps.trading.services.orders import publish_order

log = logging.getLogger(__name__)

ORDERS_FINISHED = Counter(
    "trading_orders_finished_total", "Orders reaching a final state", ["state", "route"]
)
ORDER_LANDING_SECONDS = Histogram(
    "trading_order_landing_seconds",
    "From first submission to the slot an order landed in being seen",
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32),
)

FALLBACK_ROUTE = "rpc"


class BuildFailed(Exception):
    """The order cannot be built (no venue, no balance, bad quote): it fails cleanly."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# ---- state transitions --------------------------------------------------------------------


async def _move(order: Order, from_states: tuple[str, ...], to: str, **fields: Any) -> bool:
    """Move `order` to `to` if it is still in one of `from_states`; publish on success."""
    now = timezone.now()
    if to in TERMINAL_ORDER_STATES:
        fields.setdefault("finished_at", now)
    changed = await Order.objects.filter(pk=order.pk, state__in=from_states).aupdate(
        state=to, updated_at=now, **fields
    )
    if changed:
        order.state = to
        order.updated_at = now
        for name, value in fields.items():
            setattr(order, name, value)
        await publish_order(order)
    return bool(changed)


async def _reload(order_id: int) -> Order:
    return await Order.objects.select_related("wallet").aget(pk=order_id)


# ---- the entry point ------------------------------------------------------------------------


async def execute_order(order_id: int) -> str:
    """Run an order from wherever it stands to a final state; returns that state. Safe to
    call again at any time (a redelivered task, resume_orders): it picks up where it is."""
    order = await _reload(order_id)
    if order.state == OrderState.PENDING:
        await _move(order, (OrderState.PENDING,), OrderState.BUILDING)
        order = await _reload(order_id)
    if order.state == OrderState.BUILDING and not order.signed_transactions:
        if not await _take_nonce_lease(order):
            return order.state  # another order of this wallet holds the nonce; retried later
        try:
            await _build_and_sign(order)
        except BuildFailed as failure:
            await _move(
                order,
                (OrderState.BUILDING,),
                OrderState.FAILED,
                error_code=failure.code,
                error_message=failure.message,
            )
            await _release_nonce_lease(order)
            return order.state
        order = await _reload(order_id)
    if order.state == OrderState.BUILDING:
        await _submit(order)
        order = await _reload(order_id)
    if order.state == OrderState.SUBMITTED:
        await _watch_until_final(order)
        order = await _reload(order_id)
    if order.state in TERMINAL_ORDER_STATES:
        await _release_nonce_lease(order)
    return order.state


# ---- the wallet's nonce lease ---------------------------------------------------------------


async def _take_nonce_lease(order: Order) -> bool:
    """Hold the wallet's nonce for this order until it is final. A lease held by an order
    that already finished (its worker died before releasing) is taken over."""
    wallet_id = order.wallet_id
    deadline = time.monotonic() + settings.ORDER_NONCE_WAIT_SECONDS
    while True:
        taken = await Wallet.objects.filter(
            Q(nonce_holder__isnull=True) | Q(nonce_holder=order.pk), pk=wallet_id
        ).aupdate(nonce_holder=order.pk)
        if taken:
            return True
        holder = (
            await Wallet.objects.filter(pk=wallet_id)
            .values_list("nonce_holder", flat=True)
            .afirst()
        )
        if holder is not None:
            held_by = await Order.objects.filter(pk=holder).values_list("state", flat=True).afirst()
            if held_by is None or held_by in TERMINAL_ORDER_STATES:
                await Wallet.objects.filter(pk=wallet_id, nonce_holder=holder).aupdate(
                    nonce_holder=None
                )
                continue
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)


async def _release_nonce_lease(order: Order) -> None:
    await Wallet.objects.filter(pk=order.wallet_id, nonce_holder=order.pk).aupdate(
        nonce_holder=None
    )


# ---- build and sign -------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedCopy:
    route: str  # an engine name, or "rpc" for the direct fallback
    signature: str
    tx: bytes

    def stored(self) -> dict[str, str]:
        return {
            "route": self.route,
            "signature": self.signature,
            "tx": base64.b64encode(self.tx).decode(),
        }


async def _build_and_sign(order: Order) -> None:
    """Quote, build one copy per route, sign, and store the copies (the commit point)."""
    from apps.trading.services import order_signing

    built = await order_signing.build_copies(order)
    stored = await Order.objects.filter(
        pk=order.pk, state=OrderState.BUILDING, signed_transactions__isnull=True
    ).aupdate(
        signed_transactions=[copy.stored() for copy in built.copies],
        venue=built.venue,
        quote=built.quote,
        nonce_account=built.nonce_account,
        nonce_value=built.nonce_value,
        compute_unit_price=built.compute_unit_price,
        updated_at=timezone.now(),
    )
    if not stored:
        log.info("order %s: another worker signed it first; using its copies", order.pk)


def _copies(order: Order) -> list[SignedCopy]:
    return [
        SignedCopy(c["route"], c["signature"], base64.b64decode(c["tx"]))
        for c in order.signed_transactions or []
    ]


# ---- submit ---------------------------------------------------------------------------------


async def _submit(order: Order) -> None:
    """Send every engine its copy at once and record each answer."""
    from apps.trading.services.engines import submit_everywhere

    copies = {c.route: c for c in _copies(order) if c.route != FALLBACK_ROUTE}
    receipts = await submit_everywhere({route: [c.tx] for route, c in copies.items()})
    await OrderAttempt.objects.abulk_create(
        [
            OrderAttempt(
                order=order,
                route=route,
                accepted=receipt.accepted,
                bundle_id=receipt.bundle_id or "",
                signatures=[copies[route].signature],
                latency_ms=receipt.latency_ms,
                error=receipt.error or "",
            )
            for route, receipt in receipts.items()
        ]
    )
    await _move(order, (OrderState.BUILDING,), OrderState.SUBMITTED, submitted_at=timezone.now())


# ---- watch, fall back, finish ---------------------------------------------------------------


async def _statuses(signatures: list[str]) -> list[Any]:
    answer = await rpc_pool().call(
        "getSignatureStatuses", [signatures, {"searchTransactionHistory": False}]
    )
    return answer["value"] if isinstance(answer, dict) else [None] * len(signatures)


async def _current_nonce(order: Order) -> str | None:
    from apps.trading.services.nonce import read_nonce_value

    return await read_nonce_value(order.nonce_account)


async def _watch_until_final(order: Order) -> None:
    """Poll the copies' signatures. After ORDER_FALLBACK_AFTER_SLOTS without a landing,
    rebroadcast the fallback copy through the RPC pool; at ORDER_EXPIRE_SECONDS, retire the
    nonce so nothing can land any more, then settle."""
    copies = _copies(order)
    signatures = [c.signature for c in copies]
    route_of = {c.signature: c.route for c in copies}
    fallback = next((c for c in copies if c.route == FALLBACK_ROUTE), None)
    started = time.monotonic()
    submitted = order.submitted_at or timezone.now()
    fallback_after = settings.ORDER_FALLBACK_AFTER_SLOTS * settings.SLOT_SECONDS
    expire_at = started + settings.ORDER_EXPIRE_SECONDS
    poll = settings.ORDER_POLL_SECONDS
    next_broadcast = 0.0
    while True:
        if await _settle_if_landed(order, signatures, route_of, submitted):
            return
        now = time.monotonic()
        elapsed_since_submit = (timezone.now() - submitted).total_seconds()
        if (
            fallback is not None
            and elapsed_since_submit >= fallback_after
            and now >= next_broadcast
        ):
            await _broadcast(order, fallback)
            next_broadcast = now + settings.ORDER_REBROADCAST_SECONDS
        if now >= expire_at or await _nonce_moved(order):
            await _expire(order, signatures, route_of, submitted)
            return
        await asyncio.sleep(poll)


async def _settle_if_landed(
    order: Order, signatures: list[str], route_of: dict[str, str], submitted
) -> bool:
    try:
        statuses = await _statuses(signatures)
    except Exception as exc:  # the RPC pool is down: keep watching, the order is not lost
        log.warning("order %s: status check failed: %s", order.pk, exc)
        return False
    for signature, status in zip(signatures, statuses, strict=False):
        if not status:
            continue
        route = route_of[signature]
        landed = dict(
            landed_signature=signature, landed_slot=status.get("slot"), landed_route=route
        )
        err = status.get("err")
        if err is None:
            moved = await _move(order, (OrderState.SUBMITTED,), OrderState.LANDED, **landed)
        else:
            code, message = _chain_error(order, err)
            moved = await _move(
                order,
                (OrderState.SUBMITTED,),
                OrderState.FAILED,
                error_code=code,
                error_message=message,
                **landed,
            )
        if moved:
            seconds = (timezone.now() - submitted).total_seconds()
            ORDER_LANDING_SECONDS.observe(seconds)
            ORDERS_FINISHED.labels(order.state, route).inc()
            _record_engine_landing(route, seconds)
        return True
    return False


def _record_engine_landing(route: str, seconds: float) -> None:
    if route == FALLBACK_ROUTE:
        return
    from apps.trading.services.engines import record_landing

    record_landing(route, seconds)


def _chain_error(order: Order, err: Any) -> tuple[str, str]:
    """The on-chain error by name (a slippage bound hit reads as the program's error)."""
    from apps.trading.services import order_signing

    return order_signing.describe_chain_error(order, err)


async def _broadcast(order: Order, copy: SignedCopy) -> None:
    started = time.perf_counter()
    error = ""
    try:
        await rpc_pool().call(
            "sendTransaction",
            [
                base64.b64encode(copy.tx).decode(),
                {"encoding": "base64", "skipPreflight": True, "maxRetries": 0},
            ],
        )
    except Exception as exc:  # AlreadyProcessed, nonce spent, node down: statuses decide
        error = str(exc)[:500]
    await OrderAttempt.objects.acreate(
        order=order,
        route=FALLBACK_ROUTE,
        accepted=not error,
        signatures=[copy.signature],
        latency_ms=(time.perf_counter() - started) * 1000,
        error=error,
    )


async def _nonce_moved(order: Order) -> bool:
    """Did something advance the order's nonce? Then no copy can land any more (one of them
    may be what advanced it: the caller settles by statuses first)."""
    try:
        value = await _current_nonce(order)
    except Exception:
        return False
    return value is not None and value != order.nonce_value


async def _expire(order: Order, signatures: list[str], route_of: dict[str, str], submitted) -> None:
    """Make sure no copy can ever land (advance the nonce ourselves if it has not moved),
    then settle: landed if one of them made it in the meantime, else expired."""
    from apps.trading.services import order_signing

    if not await _nonce_moved(order):
        try:
            await order_signing.retire_nonce(order)
        except Exception as exc:
            # Could not retire it: leave the order submitted; resume_orders tries again.
            log.warning("order %s: could not retire its nonce yet: %s", order.pk, exc)
            return
    for _ in range(int(10 / settings.ORDER_POLL_SECONDS)):
        if await _settle_if_landed(order, signatures, route_of, submitted):
            return
        if await _nonce_moved(order):
            break
        await asyncio.sleep(settings.ORDER_POLL_SECONDS)
    if await _settle_if_landed(order, signatures, route_of, submitted):
        return
    if await _nonce_moved(order):
        if await _move(
            order,
            (OrderState.SUBMITTED,),
            OrderState.EXPIRED,
            error_code="expired",
            error_message="no copy landed before the order timed out; its nonce is spent",
        ):
            ORDERS_FINISHED.labels(OrderState.EXPIRED, "").inc()
