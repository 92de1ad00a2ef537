"""GET /api/token/{mint}/safety: honeypot and rug detection for a mint."""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Path, Router, Schema

from apps.chain.rpc_pool import rpc_pool
from apps.trading.services.safety import token_safety
from config.api_errors import ErrorOut

from .types import PubkeyStr

router = Router(tags=["safety"])


class SafetyCheckOut(Schema):
    id: str = Field(
        description="What was checked: mint_authority, freeze_authority, supply, transfer_fee, "
        "transfer_hook, permanent_delegate, non_transferable, default_account_state, pausable, "
        "mint_close_authority, confidential_transfer, holder_concentration, pump_curve, "
        "sell_simulation."
    )
    status: Literal["ok", "warn", "danger"] = Field(description="Severity of this finding.")
    message: str = Field(description="The finding in one sentence.")
    evidence: dict[str, Any] = Field(
        description="What the check read on chain (pubkeys and raw amounts as strings)."
    )


class SafetyReportOut(Schema):
    mint: str = Field(description="The mint address.")
    token_program: str = Field(description="The token program owning the mint.")
    decimals: int
    supply: str = Field(description="Raw supply in base units (u64, as a string).")
    risk_score: int = Field(
        ge=0,
        le=100,
        description="0 (no finding) to 100 (honeypot): the sum of each finding's "
        "risk points, capped; see apps/trading/services/safety_checks.py for the weights.",
    )
    level: Literal["safe", "caution", "danger"] = Field(
        description="safe below 20, caution 20-49, danger from 50 or on any honeypot finding."
    )
    honeypot: bool = Field(
        description="True when holders cannot sell, or selling delivers nothing: "
        "non-transferable, default-frozen, paused, 100% transfer fee, missing hook program, "
        "or a failing sell simulation."
    )
    checks: list[SafetyCheckOut]
    slot: int | None = Field(description="Context slot of the mint read.")
    fingerprint: str = Field(
        description="Hash of the mint account (owner + data); a new value means the mint changed."
    )
    checked_at: float = Field(description="Unix time the checks ran.")
    cached: bool = Field(description="True when served from the per-mint cache.")


@router.get(
    "/{mint}/safety",
    response={200: SafetyReportOut, 404: ErrorOut, 422: ErrorOut, 502: ErrorOut, 503: ErrorOut},
    auth=None,
    summary="Token safety: honeypot and rug checks",
    description="Mint and freeze authorities, dangerous Token-2022 extensions, supply, top-10 "
    "holder concentration (program vaults set apart), the pump.fun curve, and a simulated sale "
    "by a real holder. 404 when no account exists at `mint`; 422 naming `mint` when the "
    "address is malformed or the account is not a token mint.",
)
async def token_safety_view(
    request: HttpRequest,
    mint: PubkeyStr = Path(..., description="Mint address: base58 of 32 bytes."),
):
    report = await token_safety(mint=mint, rpc=rpc_pool())
    return report.__dict__
