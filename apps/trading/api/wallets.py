"""GET /api/wallets, POST /api/wallets, POST /api/wallets/import: the caller's custodial
wallets. Bearer auth. No endpoint ever returns a secret key (there is no export)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Field, Router, Status
from pydantic import BaseModel

from apps.ingestion.auth import api_token_auth
from apps.trading.services.wallets import generate_wallet, import_wallet, list_wallets
from config.api_errors import ErrorOut

router = Router(tags=["wallets"], auth=api_token_auth)
ERRORS = {401: ErrorOut, 409: ErrorOut, 422: ErrorOut, 502: ErrorOut, 503: ErrorOut}
LAMPORTS_PER_SOL = 1_000_000_000


class WalletOut(BaseModel):
    pubkey: str
    label: str
    created_at: str
    lamports: int | None = Field(None, description="SOL balance in lamports (listings only).")
    sol: str | None = Field(None, description="The balance in SOL as an exact decimal string.")


class WalletsOut(BaseModel):
    slot: int | None = Field(description="The slot the balances were read at.")
    wallets: list[WalletOut]


class NewWalletIn(BaseModel):
    label: str = Field("", max_length=64)


class ImportWalletIn(BaseModel):
    secret_key: str = Field(
        max_length=1024,
        description="Base58 of the 64-byte secret key, or a keypair file's JSON byte array.",
    )
    label: str = Field("", max_length=64)


def _sol(lamports: int) -> str:
    whole, frac = divmod(lamports, LAMPORTS_PER_SOL)
    return f"{whole}.{frac:09d}".rstrip("0").rstrip(".")


def _out(wallet, lamports: int | None = None) -> dict:
    return {
        "pubkey": wallet.pubkey,
        "label": wallet.label,
        "created_at": wallet.created_at.isoformat(),
        "lamports": lamports,
        "sol": _sol(lamports) if lamports is not None else None,
    }


@router.get("", response={200: WalletsOut, **ERRORS}, summary="Your wallets with balances")
async def index(request: HttpRequest):
    balances, slot = await list_wallets(user_id=request.user.pk)
    return {"slot": slot, "wallets": [_out(b.wallet, b.lamports) for b in balances]}


@router.post("", response={201: WalletOut, **ERRORS}, summary="Generate a new wallet")
async def create(request: HttpRequest, body: NewWalletIn):
    return Status(201, _out(await generate_wallet(user_id=request.user.pk, label=body.label)))


@router.post("/import", response={201: WalletOut, **ERRORS}, summary="Import a wallet")
async def import_(request: HttpRequest, body: ImportWalletIn):
    wallet = await import_wallet(
        user_id=request.user.pk, secret_key=body.secret_key, label=body.label
    )
    return Status(201, _out(wallet))
