"""Orders: placing one (validated, idempotent), cancelling, reading, and their events.

`place_order` is the only way an order is created. The same idempotency key from the same
user always returns the first order (a replay with different parameters is refused with
409), so a client that retries after a timeout never buys twice. Execution starts after the
row is durable (`dispatch_order`); a dispatch that was lost (broker down, process killed) is
picked up again by `resume_orders`, and executing an order twice is harmless: every step is
a conditional update on the state it leaves (apps/trading/services/execution.py).

Every state change is published on the user's private `orders:<user id>` topic.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone
from solders.pubkey import Pubkey

from apps.chain.rpc_pool import rpc_pool
from apps.chain.tokens import unpack_mint
from apps.trading.models import TERMINAL_ORDER_STATES, Order, OrderState, Wallet
from apps.trading.services.engines import enabled_engines
from apps.trading.services.priority_fees import PRIORITY_LEVELS
from config.api_errors import ApiError

log = logging.getLogger(__name__)

TOKEN_PROGRAMS = {
    "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
    "TokenzQdBN5nJ2mdb5BhXCvuFHi1MbpxB7VALcfKgvrqy",
}
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
MAX_SLIPPAGE_BPS = 10_000
PRIORITY_LEVEL_NAMES = tuple(name for name, _ in PRIORITY_LEVELS)
# An order not moved on for this long is taken to have lost its worker or its dispatch.
STALE_AFTER = timedelta(seconds=30)


class OrderRejected(ApiError):
    status = 422
    code = "invalid_order"


class OrderNotFound(ApiError):
    status = 404
    code = "not_found"


class IdempotencyConflict(ApiError):
    status = 409
    code = "idempotency_conflict"


class OrderNotCancellable(ApiError):
    status = 409
    code = "not_cancellable"


@dataclass(frozen=True)
class OrderRequest:
    """What a client asks for, already shape-checked by the API schema. `amount` is in the
    unit the client reads: SOL for a buy, whole tokens or a percent for a sell."""

    idempotency_key: str
    wallet: str
    mint: str
    side: str
    amount_kind: str
    amount: Decimal
    slippage_bps: int
    priority_level: str | None = None
    compute_unit_price: int | None = None
    tip_lamports: int | None = None
    engines: tuple[str, ...] | None = None


def _check_request(request: OrderRequest) -> None:
    """Rules that need no I/O; the API schema already did types and ranges it can express."""
    if not IDEMPOTENCY_KEY.fullmatch(request.idempotency_key):
        raise OrderRejected("1-64 characters of letters, digits and _.:-", field="idempotency_key")
    if request.side == "buy" and request.amount_kind != "sol":
        raise OrderRejected("a buy spends SOL: amount_unit must be sol", field="amount_unit")
    if request.side == "sell" and request.amount_kind == "sol":
        raise OrderRejected(
            "a sell is sized in tokens or a percent of the holding", field="amount_unit"
        )
    if not request.amount.is_finite() or request.amount <= 0:
        raise OrderRejected("must be greater than zero", field="amount")
    if request.amount_kind == "percent" and request.amount > 100:
        raise OrderRejected("a percent of the holding is at most 100", field="amount")
    if not 0 <= request.slippage_bps <= MAX_SLIPPAGE_BPS:
        raise OrderRejected("slippage is 0 to 10000 bps (100%)", field="slippage_bps")
    if request.priority_level is not None and request.compute_unit_price is not None:
        raise OrderRejected(
            "give a priority level or a compute-unit price, not both", field="priority"
        )
    if request.priority_level is not None and request.priority_level not in PRIORITY_LEVEL_NAMES:
        raise OrderRejected(
            f"unknown level; one of {', '.join(PRIORITY_LEVEL_NAMES)}", field="priority_level"
        )
    if request.engines is not None:
        enabled = enabled_engines()
        unknown = [e for e in request.engines if e not in enabled]
        if unknown or not request.engines:
            raise OrderRejected(
                f"engines must be a non-empty subset of the enabled ones: {', '.join(enabled)}",
                field="engines",
            )


async def _mint_decimals(mint: str) -> int:
    """The mint's decimals; OrderRejected(field=mint) when it is not a token mint."""
    answer = await rpc_pool().call(
        "getAccountInfo", [mint, {"encoding": "base64", "commitment": "confirmed"}], cache_ttl=2.0
    )
    value = answer.get("value") if isinstance(answer, dict) else None
    if not value or value.get("owner") not in TOKEN_PROGRAMS:
        raise OrderRejected(
            "not a token mint (no SPL Token or Token-2022 mint there)", field="mint"
        )
    state = unpack_mint(base64.b64decode(value["data"][0]))
    if state is None:
        raise OrderRejected("the account is a token account, not a mint", field="mint")
    return state.decimals


# Decimal places each unit can carry, and the raw units per whole one.
SOL_DECIMALS = 9
PERCENT_DECIMALS = 2  # basis points


def raw_amount(amount: Decimal, decimals: int) -> int:
    """`amount` in base units; OrderRejected(field=amount) when it has finer precision."""
    raw = amount.scaleb(decimals)
    if raw != raw.to_integral_value():
        raise OrderRejected(f"at most {decimals} decimal places", field="amount")
    if raw >= 2**64:
        raise OrderRejected("too large", field="amount")
    return int(raw)


def _raw_for(request: OrderRequest, mint_decimals: int) -> int:
    decimals = {"sol": SOL_DECIMALS, "percent": PERCENT_DECIMALS}.get(
        request.amount_kind, mint_decimals
    )
    return raw_amount(request.amount, decimals)


def _same_request(order: Order, request: OrderRequest) -> bool:
    try:
        amount = _raw_for(request, order.mint_decimals)
    except OrderRejected:
        return False
    return (
        order.wallet.pubkey == request.wallet
        and order.mint == request.mint
        and order.side == request.side
        and order.amount_kind == request.amount_kind
        and int(order.amount) == amount
        and order.slippage_bps == request.slippage_bps
    )


async def place_order(
    *, user_id: int, request: OrderRequest, dispatch: bool = True
) -> tuple[Order, bool]:
    """(order, created). Validates everything before anything is stored or sent. With
    dispatch=False the caller executes the order itself (the sniper, on its own loop)."""
    _check_request(request)
    existing = await _by_key(user_id, request.idempotency_key)
    if existing is not None:
        return await _replayed(existing, request)
    wallet = await Wallet.objects.filter(
        user_id=user_id, pubkey=request.wallet, archived=False
    ).afirst()
    if wallet is None:
        # Someone else's wallet and no wallet at all read the same: no probing.
        raise OrderRejected("no such wallet among yours", field="wallet")
    try:
        Pubkey.from_string(request.mint)
    except ValueError:
        raise OrderRejected("not a base58 pubkey", field="mint") from None
    decimals = await _mint_decimals(request.mint)
    amount = _raw_for(request, decimals)
    engines = list(request.engines) if request.engines is not None else enabled_engines()
    try:
        order = await Order.objects.acreate(
            user_id=user_id,
            wallet=wallet,
            idempotency_key=request.idempotency_key,
            mint=request.mint,
            side=request.side,
            amount_kind=request.amount_kind,
            amount=Decimal(amount),
            mint_decimals=decimals,
            slippage_bps=request.slippage_bps,
            priority_level=request.priority_level or "",
            compute_unit_price=request.compute_unit_price,
            tip_lamports=(
                request.tip_lamports
                if request.tip_lamports is not None
                else settings.ORDER_DEFAULT_TIP_LAMPORTS
            ),
            engines=engines,
        )
    except IntegrityError:
        # The same key raced in from a concurrent request: that one is the order.
        existing = await _by_key(user_id, request.idempotency_key)
        if existing is None:
            raise
        return await _replayed(existing, request)
    await publish_order(order)
    if dispatch:
        await dispatch_order(order.pk)
    return order, True


async def _by_key(user_id: int, key: str) -> Order | None:
    return (
        await Order.objects.select_related("wallet")
        .filter(user_id=user_id, idempotency_key=key)
        .afirst()
    )


async def _replayed(order: Order, request: OrderRequest) -> tuple[Order, bool]:
    if not _same_request(order, request):
        raise IdempotencyConflict(
            "this idempotency key was used for a different order", field="idempotency_key"
        )
    if order.state == OrderState.PENDING and timezone.now() - order.updated_at > STALE_AFTER:
        await dispatch_order(order.pk)  # its first dispatch may have been lost
    return order, False


# ---- execution dispatch -------------------------------------------------------------------

_in_process: set[asyncio.Task] = set()


async def dispatch_order(order_id: int) -> None:
    """Start executing an order: on the Celery `execution` queue, or in this process with
    the embedded defaults (no broker). Losing a dispatch loses nothing: resume_orders
    finds the order again."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        from apps.trading.services.execution import execute_order

        task = asyncio.get_running_loop().create_task(execute_order(order_id))
        _in_process.add(task)  # keep a reference until it ends
        task.add_done_callback(_in_process.discard)
        return
    from apps.trading.tasks import execute_order_task

    try:
        # kombu's publish is blocking I/O: off the event loop.
        await asyncio.to_thread(execute_order_task.apply_async, (order_id,))
    except Exception:
        log.exception("order %s: dispatch failed; resume_orders will pick it up", order_id)


async def resume_orders(*, older_than: timedelta = STALE_AFTER) -> int:
    """Dispatch again every unfinished order that has not moved for `older_than`."""
    cutoff = timezone.now() - older_than
    ids = [
        pk
        async for pk in Order.objects.exclude(state__in=TERMINAL_ORDER_STATES)
        .filter(updated_at__lt=cutoff)
        .values_list("pk", flat=True)
    ]
    for pk in ids:
        await dispatch_order(pk)
    return len(ids)


# ---- reads and cancel -----------------------------------------------------------------------


async def get_order(*, user_id: int, order_id: int) -> Order:
    order = (
        await Order.objects.select_related("wallet").filter(user_id=user_id, pk=order_id).afirst()
    )
    if order is None:
        raise OrderNotFound("no such order among yours")
    return order


async def list_orders(*, user_id: int, limit: int = 50, state: str | None = None) -> list[Order]:
    orders = Order.objects.select_related("wallet").filter(user_id=user_id)
    if state:
        orders = orders.filter(state=state)
    return [o async for o in orders.order_by("-created_at", "-pk")[:limit]]


async def cancel_order(*, user_id: int, order_id: int) -> Order:
    """Cancel while nothing has been sent; 409 once building or later."""
    order = await get_order(user_id=user_id, order_id=order_id)
    changed = await Order.objects.filter(pk=order.pk, state=OrderState.PENDING).aupdate(
        state=OrderState.CANCELLED, finished_at=timezone.now(), updated_at=timezone.now()
    )
    order = await get_order(user_id=user_id, order_id=order_id)
    if not changed:
        if order.state == OrderState.CANCELLED:
            return order  # idempotent
        raise OrderNotCancellable(
            f"the order is {order.state}: only a pending order can be cancelled", field="state"
        )
    await publish_order(order)
    return order


# ---- events ---------------------------------------------------------------------------------


def order_summary(order: Order) -> dict[str, Any]:
    """The order as the API and the `orders:` topic show it (no transaction bytes)."""
    return {
        "id": order.pk,
        "state": order.state,
        "wallet": order.wallet.pubkey,
        "mint": order.mint,
        "side": order.side,
        "amount_unit": order.amount_kind,
        "amount": str(int(order.amount)),
        "slippage_bps": order.slippage_bps,
        "priority_level": order.priority_level or None,
        "compute_unit_price": order.compute_unit_price,
        "tip_lamports": order.tip_lamports,
        "engines": order.engines,
        "idempotency_key": order.idempotency_key,
        "venue": order.venue or None,
        "quote": order.quote,
        "signatures": [copy["signature"] for copy in order.signed_transactions or []],
        "landed_signature": order.landed_signature or None,
        "landed_slot": order.landed_slot,
        "landed_route": order.landed_route or None,
        "error": (
            {"code": order.error_code, "message": order.error_message} if order.error_code else None
        ),
        "created_at": order.created_at.isoformat(),
        "submitted_at": order.submitted_at.isoformat() if order.submitted_at else None,
        "finished_at": order.finished_at.isoformat() if order.finished_at else None,
    }


async def publish_order(order: Order) -> None:
    """The order's current state on its user's private topic; a lost event is repaired by
    the next one (and GET /api/orders/{id} is the truth), so failures are only logged."""
    from apps.realtime.bus import publish

    try:
        await publish(f"orders:{order.user_id}", f"order.{order.state}", order_summary(order))
    except Exception:
        log.exception("order %s: could not publish its %s event", order.pk, order.state)


__all__ = [
    "IdempotencyConflict",
    "OrderNotCancellable",
    "OrderNotFound",
    "OrderRejected",
    "OrderRequest",
    "cancel_order",
    "dispatch_order",
    "get_order",
    "list_orders",
    "order_summary",
    "place_order",
    "publish_order",
    "resume_orders",
]
