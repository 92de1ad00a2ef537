"""POST /api/transaction/simulate: what a transaction would do, before the user signs or sends."""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import ConfigDict, Field

from apps.chain.rpc_pool import rpc_pool
from apps.trading.api.types import PubkeyStr
from apps.trading.services.simulation import simulate_transaction
from config.api_errors import ErrorOut

router = Router(tags=["simulate"])

MAX_REPORTED_ACCOUNTS = 64


class SimulateIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    transaction: str = Field(
        description="The serialized transaction (legacy or v0; signed or not unless "
        "sig_verify), at most one 1,232-byte packet."
    )
    encoding: Literal["base64", "base58"] = Field(
        "base64", description="Encoding of `transaction`."
    )
    sig_verify: bool = Field(
        False,
        description="Verify the signatures first (refused with replace_recent_blockhash).",
    )
    replace_recent_blockhash: bool = Field(
        False,
        description="Simulate with the latest blockhash instead of the transaction's own, so "
        "an unsigned or stale transaction can still be previewed.",
    )
    commitment: Literal["processed", "confirmed", "finalized"] = Field(
        "processed", description="The bank state to simulate against."
    )
    accounts: list[PubkeyStr] = Field(
        default_factory=list,
        max_length=MAX_REPORTED_ACCOUNTS,
        description="Accounts whose state after the transaction to return in `accounts`.",
    )


class SimulationErrorOut(Schema):
    raw: Any = Field(description="The validator's `err`, verbatim.")
    kind: str = Field(description='Top-level error: "InstructionError", "BlockhashNotFound"...')
    instruction_index: int | None = Field(None, description="Index of the failing instruction.")
    program_id: str | None = Field(None, description="Program of the failing instruction.")
    failed_program_id: str | None = Field(
        None,
        description="The innermost program that failed (differs from program_id when the "
        "error came from a cross-program call, e.g. the token program under pump).",
    )
    custom_code: int | None = Field(None, description="The program's custom error number.")
    name: str | None = Field(
        None, description='Error name, e.g. "TooMuchSolRequired" (IDL), "ConstraintSeeds".'
    )
    message: str | None = Field(None, description="Human-readable explanation when known.")
    account: str | None = Field(
        None, description="The account a transaction-level error names (account_index)."
    )


class SolChangeOut(Schema):
    account: str
    program_owner: str = Field(description="Program owning the account (System for a wallet).")
    before: int = Field(description="Lamports before.")
    after: int = Field(description="Lamports after (the fee already deducted from the payer).")
    change: int = Field(description="after - before, in lamports.")
    change_ui: str = Field(description="The change in SOL, exact decimal string.")


class TokenChangeOut(Schema):
    account: str = Field(description="The token account.")
    owner: str = Field(description="The wallet (or program) owning the token account.")
    mint: str
    program: str = Field(description="Token program id (SPL Token or Token-2022).")
    decimals: int
    before: str = Field(description="Raw base units before (string: u64).")
    after: str
    change: str = Field(description="Signed raw change.")
    before_ui: str
    after_ui: str
    change_ui: str = Field(description="Signed change in UI units, exact decimal string.")


class OwnerTokenChangeOut(Schema):
    mint: str
    program: str
    decimals: int
    change: str = Field(description="Signed raw change summed over the owner's accounts.")
    change_ui: str


class OwnerChangeOut(Schema):
    owner: str
    sol_change: int = Field(
        description="Lamports change of the owner's own account (fee included for the payer); "
        "token-account rent and wrapped SOL are not counted here."
    )
    sol_change_ui: str
    tokens: list[OwnerTokenChangeOut] = Field(description="Per-mint token change.")


class BalanceChangesOut(Schema):
    sol: list[SolChangeOut] = Field(description="Every account whose lamports change.")
    tokens: list[TokenChangeOut] = Field(description="Every token account whose balance changes.")
    owners: list[OwnerChangeOut] = Field(
        description="Per owner: SOL spent/received and tokens per mint; the fee payer first "
        '("you will spend X SOL and receive Y TOKEN").'
    )


class ReportedAccountOut(Schema):
    pubkey: str
    exists: bool
    written: bool = Field(description="Whether the transaction may write this account.")
    lamports: int | None = None
    owner: str | None = Field(None, description="Owning program.")
    executable: bool | None = None
    space: int | None = None
    data_base64: str | None = Field(None, description="Raw data, when the node has no parser.")
    parsed: dict[str, Any] | None = Field(None, description="The node's jsonParsed data.")


class ReplacementBlockhashOut(Schema):
    blockhash: str
    last_valid_block_height: int


class ReturnDataOut(Schema):
    program_id: str
    data_base64: str


class SimulationOut(Schema):
    success: bool
    slot: int = Field(description="Slot the simulation ran at.")
    version: str = Field(description='"legacy" or "0".')
    fee_payer: str
    error: SimulationErrorOut | None = Field(description="Null when the simulation succeeded.")
    logs: list[str]
    units_consumed: int = Field(description="Compute units the transaction used.")
    fee: int | None = Field(
        description="Fee in lamports (base + priority); null when the blockhash is unknown."
    )
    fee_ui: str | None = Field(description="The fee in SOL.")
    balance_changes: BalanceChangesOut | None = Field(
        description="What the transaction would move. On an instruction failure only the fee "
        "payer's fee; on a transaction refused as a whole, nothing. Null when the upstream did "
        "not return the simulated accounts."
    )
    accounts: list[ReportedAccountOut] = Field(
        description="The requested `accounts`, in request order, as they would be after the "
        "transaction (current state for accounts it does not write or when it fails)."
    )
    replacement_blockhash: ReplacementBlockhashOut | None
    return_data: ReturnDataOut | None


@router.post(
    "/simulate",
    response={200: SimulationOut, 422: ErrorOut, 502: ErrorOut, 503: ErrorOut},
    auth=None,
)
async def simulate(request: HttpRequest, body: SimulateIn):
    """Simulate a transaction: success or the decoded error, logs, compute units, fee, and the
    SOL and token balance changes per account and per owner. Bad input is a 422 naming the
    field, before any upstream call; no upstream answering is a 503."""
    return await simulate_transaction(
        rpc=rpc_pool(),
        transaction=body.transaction,
        encoding=body.encoding,
        sig_verify=body.sig_verify,
        replace_recent_blockhash=body.replace_recent_blockhash,
        accounts=body.accounts,
        commitment=body.commitment,
    )
