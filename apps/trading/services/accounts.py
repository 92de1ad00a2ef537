"""A wallet's SOL balance and its token accounts under both token programs.

Amounts are strings: raw base units as the node reports them, and UI amounts as the
exact decimal (raw shifted by the decimals), never a float that loses the low digits.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from apps.chain.rpc import RpcClient, RpcUnavailable, context_value
from apps.chain.tokens import ui_amount

logger = logging.getLogger(__name__)

LAMPORTS_PER_SOL_DECIMALS = 9
COMMITMENTS = ("processed", "confirmed", "finalized")
TOKEN_PROGRAMS = {
    "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA": "spl-token",
    "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb": "spl-token-2022",
}


async def account_balance(
    *, rpc: RpcClient, pubkey: str, commitment: str = "confirmed"
) -> dict[str, Any]:
    """{pubkey, lamports, sol, slot} of `pubkey` at `commitment`."""
    result = await rpc.call("getBalance", [pubkey, {"commitment": commitment}])
    slot, lamports = context_value(result, "getBalance")
    if isinstance(lamports, bool) or not isinstance(lamports, int):
        raise RpcUnavailable("malformed getBalance answer from the upstream")
    return {
        "pubkey": pubkey,
        "lamports": lamports,
        "sol": ui_amount(lamports, LAMPORTS_PER_SOL_DECIMALS),
        "slot": slot,
    }


def _token_account(entry: Any, program: str) -> dict[str, Any] | None:
    """One jsonParsed token account as the API shows it; None when it is not parsable
    (the node falls back to base64 when it cannot read the mint's decimals)."""
    try:
        info = entry["account"]["data"]["parsed"]["info"]
        amount = info["tokenAmount"]
        raw = int(amount["amount"])
        decimals = int(amount["decimals"])
        return {
            "account": entry["pubkey"],
            "mint": info["mint"],
            "amount": str(raw),
            "decimals": decimals,
            "ui_amount": ui_amount(raw, decimals),
            "program": program,
            "frozen": info["state"] == "frozen",
        }
    except (KeyError, TypeError, ValueError):
        logger.warning("skipping an unparsable %s account in getTokenAccountsByOwner", program)
        return None


async def token_accounts(
    *,
    rpc: RpcClient,
    owner: str,
    include_zero: bool = False,
    commitment: str = "confirmed",
) -> dict[str, Any]:
    """{owner, slot, accounts} for every SPL Token and Token-2022 account `owner` holds.

    One getTokenAccountsByOwner per program, in parallel. Accounts are sorted by mint,
    then program, then address; empty ones are left out unless `include_zero`.
    """
    config = {"encoding": "jsonParsed", "commitment": commitment}
    answers = await asyncio.gather(
        *(
            rpc.call("getTokenAccountsByOwner", [owner, {"programId": program_id}, config])
            for program_id in TOKEN_PROGRAMS
        )
    )
    slot = None
    accounts = []
    for answer, program in zip(answers, TOKEN_PROGRAMS.values(), strict=True):
        answer_slot, entries = context_value(answer, "getTokenAccountsByOwner")
        # The older of the two views: every account is at least this fresh.
        slot = answer_slot if slot is None else min(slot, answer_slot)
        if not isinstance(entries, list):
            raise RpcUnavailable("malformed getTokenAccountsByOwner answer from the upstream")
        for entry in entries:
            account = _token_account(entry, program)
            if account is not None and (include_zero or account["amount"] != "0"):
                accounts.append(account)
    accounts.sort(key=lambda a: (a["mint"], a["program"], a["account"]))
    return {"owner": owner, "slot": slot, "accounts": accounts}
