"""GET /api/account/{pubkey}/balance and /api/account/{pubkey}/tokens: public reads.

Thin async views: the pubkey and query are validated by Ninja (422 naming the field)
before the service makes any RPC call; RPC failures map to 503/502 in config/api_errors.
"""

from __future__ import annotations

from typing import Annotated, Literal

from django.http import HttpRequest
from ninja import Field, Path, Query, Router
from pydantic import BaseModel

from apps.chain.rpc_pool import rpc_pool
from apps.trading.services.accounts import account_balance, token_accounts
from config.api_errors import ErrorOut

from .types import PubkeyStr, StrictQuery

router = Router(tags=["accounts"])

Commitment = Literal["processed", "confirmed", "finalized"]
ERRORS = {422: ErrorOut, 502: ErrorOut, 503: ErrorOut}
Address = Annotated[PubkeyStr, Path(description="The account's address: base58 of 32 bytes.")]


class BalanceQuery(StrictQuery):
    commitment: Commitment = Field(
        "confirmed", description="Bank state to read: processed, confirmed or finalized."
    )


class BalanceOut(BaseModel):
    pubkey: str = Field(description="The account address (base58).")
    lamports: int = Field(description="Balance in lamports (1 SOL = 10^9 lamports).")
    sol: str = Field(description='Balance in SOL as an exact decimal string, e.g. "1.5".')
    slot: int = Field(description="Slot the node read the balance at.")


class TokensQuery(StrictQuery):
    include_zero: bool = Field(False, description="Also list token accounts holding nothing.")
    commitment: Commitment = Field(
        "confirmed", description="Bank state to read: processed, confirmed or finalized."
    )


class TokenAccountOut(BaseModel):
    account: str = Field(description="The token account address.")
    mint: str = Field(description="The mint of the token held.")
    amount: str = Field(description="Raw amount in base units, as a decimal string.")
    decimals: int = Field(description="The mint's decimals.")
    ui_amount: str = Field(
        description="amount / 10^decimals as an exact decimal string (no display scaling "
        "by interest-bearing or scaled-UI-amount extensions)."
    )
    program: Literal["spl-token", "spl-token-2022"] = Field(
        description="The token program that owns the account."
    )
    frozen: bool = Field(description="The mint's freeze authority froze it: it cannot move.")


class TokensOut(BaseModel):
    owner: str = Field(description="The wallet whose token accounts these are.")
    slot: int = Field(description="The older slot of the two per-program reads.")
    accounts: list[TokenAccountOut] = Field(
        description="SPL Token and Token-2022 accounts sorted by mint, program, address."
    )


@router.get(
    "/{pubkey}/balance",
    response={200: BalanceOut, **ERRORS},
    auth=None,
    summary="SOL balance of an account",
)
async def balance(request: HttpRequest, pubkey: Address, query: Query[BalanceQuery]):
    return await account_balance(rpc=rpc_pool(), pubkey=pubkey, commitment=query.commitment)


@router.get(
    "/{pubkey}/tokens",
    response={200: TokensOut, **ERRORS},
    auth=None,
    summary="Token accounts of a wallet (SPL Token and Token-2022)",
)
async def tokens(request: HttpRequest, pubkey: Address, query: Query[TokensQuery]):
    return await token_accounts(
        rpc=rpc_pool(),
        owner=pubkey,
        include_zero=query.include_zero,
        commitment=query.commitment,
    )
