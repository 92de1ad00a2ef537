"""Durable nonces: each wallet's nonce account, its current value, and retiring it.

Every copy of an order uses the wallet's nonce value as its blockhash and advances it
first (services/order_builder.py), so at most one copy can ever execute. The account is
created on the wallet's first order (the wallet pays its rent-exempt deposit).
"""

from __future__ import annotations

import asyncio
import base64
import time

from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import (
    AdvanceNonceAccountParams,
    advance_nonce_account,
    create_nonce_account,
)
from solders.transaction import VersionedTransaction

from apps.chain.rpc_pool import rpc_pool
from apps.trading.models import Wallet

NONCE_ACCOUNT_LEN = 80
COMMITMENT = "confirmed"
# The nonce a new copy must carry is the newest one: the previous order's advance may be
# only processed yet, and a copy over the older confirmed value could never land.
NONCE_READ_COMMITMENT = "processed"


class NonceError(Exception):
    """The nonce account could not be created, read or advanced."""


def parse_nonce_value(data: bytes) -> str | None:
    """The durable nonce stored in a nonce account's data, or None if not initialized."""
    if len(data) != NONCE_ACCOUNT_LEN or int.from_bytes(data[4:8], "little") != 1:
        return None
    return str(Hash(data[40:72]))


async def read_nonce_value(nonce_account: str) -> str | None:
    answer = await rpc_pool().call(
        "getAccountInfo",
        [nonce_account, {"encoding": "base64", "commitment": NONCE_READ_COMMITMENT}],
    )
    value = answer.get("value") if isinstance(answer, dict) else None
    if not value:
        return None
    return parse_nonce_value(base64.b64decode(value["data"][0]))


async def _send_and_confirm(tx: VersionedTransaction, timeout: float = 30.0) -> None:
    rpc = rpc_pool()
    signature = str(tx.signatures[0])
    await rpc.call(
        "sendTransaction", [base64.b64encode(bytes(tx)).decode(), {"encoding": "base64"}]
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = (await rpc.call("getSignatureStatuses", [[signature]]))["value"]
        status = statuses[0]
        if status and status.get("err") is not None:
            raise NonceError(f"transaction {signature} failed: {status['err']}")
        if status and status.get("confirmationStatus") in ("confirmed", "finalized"):
            return
        await asyncio.sleep(0.1)
    raise NonceError(f"transaction {signature} not confirmed in {timeout:g} s")


async def _latest_blockhash() -> Hash:
    answer = await rpc_pool().call("getLatestBlockhash", [{"commitment": COMMITMENT}])
    return Hash.from_string(answer["value"]["blockhash"])


async def ensure_nonce_account(wallet: Wallet, signer: Keypair) -> str:
    """The wallet's nonce account, created (and recorded) on first use."""
    if wallet.nonce_account:
        return wallet.nonce_account
    rent = await rpc_pool().call("getMinimumBalanceForRentExemption", [NONCE_ACCOUNT_LEN])
    nonce = Keypair()
    instructions = create_nonce_account(signer.pubkey(), nonce.pubkey(), signer.pubkey(), rent)
    message = MessageV0.try_compile(
        signer.pubkey(), list(instructions), [], await _latest_blockhash()
    )
    await _send_and_confirm(VersionedTransaction(message, [signer, nonce]))
    # Recorded only if no other worker recorded one meanwhile (orders of one wallet take
    # turns, so that does not happen; if it did, the first stays the wallet's).
    await Wallet.objects.filter(pk=wallet.pk, nonce_account="").aupdate(
        nonce_account=str(nonce.pubkey())
    )
    await wallet.arefresh_from_db(fields=["nonce_account"])
    return wallet.nonce_account


async def advance_nonce(nonce_account: str, signer: Keypair) -> None:
    """Advance the nonce with a transaction of its own: every copy signed over the old value
    is dead from then on."""
    instruction = advance_nonce_account(
        AdvanceNonceAccountParams(
            nonce_pubkey=Pubkey.from_string(nonce_account), authorized_pubkey=signer.pubkey()
        )
    )
    message = MessageV0.try_compile(signer.pubkey(), [instruction], [], await _latest_blockhash())
    await _send_and_confirm(VersionedTransaction(message, [signer]))
