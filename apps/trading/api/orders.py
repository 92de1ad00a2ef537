"""POST /api/orders, GET /api/orders, GET /api/orders/{id}, POST /api/orders/{id}/cancel.

Bearer auth (a token from email OTP login). The body is checked by the schema (422 naming
the field) and by the service (wallet ownership, the mint, precision) before anything is
stored; nothing is sent before the order row is durable.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Header, Query, Router, Status
from pydantic import BaseModel

from apps.ingestion.auth import api_token_auth
from apps.trading.services.orders import (
    OrderRequest,
    cancel_order,
    get_order,
    list_orders,
    order_summary,
    place_order,
)
from config.api_errors import ErrorOut

from .types import PubkeyStr, StrictQuery

router = Router(tags=["orders"], auth=api_token_auth)
ERRORS = {401: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 502: ErrorOut, 503: ErrorOut}
States = Literal["pending", "building", "submitted", "landed", "failed", "expired", "cancelled"]


class OrderIn(BaseModel):
    idempotency_key: str | None = Field(
        None,
        description="The client's key for this order (or the Idempotency-Key header): the "
        "same key always returns the same order, never a second one.",
    )
    wallet: PubkeyStr = Field(description="One of your trading wallets (its address).")
    mint: PubkeyStr = Field(description="The token to buy or sell.")
    side: Literal["buy", "sell"]
    amount: Decimal = Field(
        gt=0,
        description="SOL to spend (buy), tokens to sell (amount_unit=tokens), or the percent "
        "of your holding to sell (amount_unit=percent).",
    )
    amount_unit: Literal["sol", "tokens", "percent"] = Field(
        "sol", description="sol for a buy; tokens or percent for a sell."
    )
    slippage_bps: int = Field(
        ge=0, le=10_000, description="Worst price accepted, in basis points (100 = 1%)."
    )
    priority_level: str | None = Field(
        None, description="A level from GET /api/fees/priority (min … unsafe_max)."
    )
    compute_unit_price: int | None = Field(
        None, ge=0, le=10**12, description="Explicit priority: micro-lamports per compute unit."
    )
    tip_lamports: int | None = Field(
        None, ge=0, le=10**10, description="Engine tip; the platform default when omitted."
    )
    engines: list[str] | None = Field(
        None,
        description="Engines to send to (jito, bloxroute, nextblock); all enabled ones "
        "when omitted.",
        max_length=8,
    )


class OrderError(BaseModel):
    code: str
    message: str


class OrderOut(BaseModel):
    id: int
    state: States
    wallet: str
    mint: str
    side: str
    amount_unit: str
    amount: str = Field(description="Raw: lamports, token base units, or basis points.")
    slippage_bps: int
    priority_level: str | None
    compute_unit_price: int | None
    tip_lamports: int
    engines: list[str]
    idempotency_key: str
    venue: str | None = Field(description="pump (bonding curve) or pump_amm (PumpSwap).")
    quote: dict[str, Any] | None
    signatures: list[str] = Field(description="Every signed copy (at most one can land).")
    landed_signature: str | None
    landed_slot: int | None
    landed_route: str | None = Field(description="The engine (or rpc) whose copy landed.")
    error: OrderError | None
    created_at: str
    submitted_at: str | None
    finished_at: str | None


class OrdersQuery(StrictQuery):
    state: States | None = None
    limit: int = Field(50, ge=1, le=200)


@router.post("", response={200: OrderOut, 201: OrderOut, **ERRORS}, summary="Place an order")
async def create(
    request: HttpRequest,
    body: OrderIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
):
    key = body.idempotency_key or idempotency_key
    if not key:
        from apps.trading.services.orders import OrderRejected

        raise OrderRejected(
            "required (in the body or the Idempotency-Key header)", field="idempotency_key"
        )
    order, created = await place_order(
        user_id=request.user.pk,
        request=OrderRequest(
            idempotency_key=key,
            wallet=body.wallet,
            mint=body.mint,
            side=body.side,
            amount_kind=body.amount_unit,
            amount=body.amount,
            slippage_bps=body.slippage_bps,
            priority_level=body.priority_level,
            compute_unit_price=body.compute_unit_price,
            tip_lamports=body.tip_lamports,
            engines=tuple(body.engines) if body.engines is not None else None,
        ),
    )
    return Status(201 if created else 200, order_summary(order))


@router.get("", response={200: list[OrderOut], **ERRORS}, summary="Your orders, newest first")
async def index(request: HttpRequest, query: Query[OrdersQuery]):
    orders = await list_orders(user_id=request.user.pk, limit=query.limit, state=query.state)
    return [order_summary(order) for order in orders]


@router.get("/{order_id}", response={200: OrderOut, **ERRORS}, summary="One of your orders")
async def detail(request: HttpRequest, order_id: int):
    return order_summary(await get_order(user_id=request.user.pk, order_id=order_id))


@router.post(
    "/{order_id}/cancel", response={200: OrderOut, **ERRORS}, summary="Cancel a pending order"
)
async def cancel(request: HttpRequest, order_id: int):
    return order_summary(await cancel_order(user_id=request.user.pk, order_id=order_id))
