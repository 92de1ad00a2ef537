"""Helpers for localnet tests: raw JSON-RPC calls and real signed transactions."""

from __future__ import annotations

import base64
from typing import Any

import httpx
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

SOL = 1_000_000_000


def rpc(url: str, method: str, params: list[Any] | None = None) -> dict[str, Any]:
    """One JSON-RPC call over real HTTP; returns the whole response object."""
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        body["params"] = params
    response = httpx.post(url, json=body, timeout=10)
    assert response.status_code == 200
    return response.json()


def result(url: str, method: str, params: list[Any] | None = None) -> Any:
    answer = rpc(url, method, params)
    assert "error" not in answer, answer
    return answer["result"]


def transfer_tx(
    payer: Keypair,
    to: Pubkey,
    lamports: int,
    blockhash: Hash,
    *,
    cu_price: int | None = None,
    cu_limit: int | None = None,
    signers: list[Keypair] | None = None,
) -> VersionedTransaction:
    instructions = []
    if cu_limit is not None:
        instructions.append(set_compute_unit_limit(cu_limit))
    if cu_price is not None:
        instructions.append(set_compute_unit_price(cu_price))
    instructions.append(
        transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=lamports))
    )
    message = Message.new_with_blockhash(instructions, payer.pubkey(), blockhash)
    return VersionedTransaction(message, signers or [payer])


def b64(tx: VersionedTransaction) -> str:
    return base64.b64encode(bytes(tx)).decode()


def badly_signed(tx: VersionedTransaction) -> VersionedTransaction:
    """The same message carrying a signature by the wrong key."""
    wrong = Keypair().sign_message(bytes(tx.message))
    return VersionedTransaction.populate(tx.message, [wrong])
