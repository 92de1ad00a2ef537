"""POST /api/transaction/simulate against real transactions on the localnet.

Balance changes are checked two ways: against figures computed by hand, and against what
the chain really does when the same transaction is then sent.
"""

from __future__ import annotations

import base64
import json
import struct
import time

import httpx
import pytest
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams
from solders.system_program import transfer as system_transfer
from solders.transaction import VersionedTransaction
from spl.token.instructions import create_idempotent_associated_token_account

from apps.chain.base58 import b58encode
from apps.chain.localnet import LocalnetHandle
from apps.chain.localnet.fixtures import (
    TOKEN_2022_PROGRAM,
    TOKEN_PROGRAM,
    create_mint,
    create_token_account,
    mint_to,
    send_instructions,
    token_balance,
)
from apps.chain.programs.pump import instructions as pump_ix
from apps.chain.programs.pump.constants import BUYBACK_FEE_RECIPIENTS, FEE_RECIPIENTS
from apps.chain.programs.pump.program import PUMP
from apps.chain.programs.spl import associated_token_address
from config.asgi import application
from tests.asgi import asgi_request
from tests.servers import free_port

SOL = 1_000_000_000
SYSTEM_PROGRAM = "11111111111111111111111111111111"
PUMP_PROGRAM = "6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P"
_TRANSFER_CHECKED = 12  # TokenInstruction::TransferChecked


async def simulate(body: dict | bytes):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await asgi_request(
        application,
        "POST",
        "/api/transaction/simulate",
        body=raw,
        headers={"content-type": "application/json"},
    )


def b64(tx: VersionedTransaction) -> str:
    return base64.b64encode(bytes(tx)).decode()


def signed(
    net: LocalnetHandle, payer: Keypair, instructions: list[Instruction], *, v0: bool = False
) -> VersionedTransaction:
    blockhash, _ = net.chain.latest_blockhash("processed")
    if v0:
        message = MessageV0.try_compile(payer.pubkey(), instructions, [], blockhash)
    else:
        message = Message.new_with_blockhash(instructions, payer.pubkey(), blockhash)
    return VersionedTransaction(message, [payer])


def fee_of(net: LocalnetHandle, tx: VersionedTransaction) -> int:
    encoded = base64.b64encode(to_bytes_versioned(tx.message)).decode()
    answer = httpx.post(
        net.rpc_url,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "getFeeForMessage",
            "params": [encoded, {"commitment": "processed"}],
        },
    )
    return answer.json()["result"]["value"]


def lamports(net: LocalnetHandle, pubkey: Pubkey) -> int:
    account = net.chain.get_account(pubkey)
    return account.lamports if account else 0


def transfer_checked(
    program: Pubkey, source: Pubkey, mint: Pubkey, dest: Pubkey, owner: Pubkey, amount: int
) -> Instruction:
    return Instruction(
        program,
        struct.pack("<BQB", _TRANSFER_CHECKED, amount, 6),
        [
            AccountMeta(source, False, True),
            AccountMeta(mint, False, False),
            AccountMeta(dest, False, True),
            AccountMeta(owner, True, False),
        ],
    )


@pytest.fixture
def dead_upstream(settings) -> str:
    """An RPC URL nothing listens on: any RPC call would fail (503)."""
    url = f"http://127.0.0.1:{free_port()}"
    settings.SOLANA_RPC_URLS = [url]
    return url


# ---- SOL transfer -----------------------------------------------------------------------


@pytest.mark.parametrize(("v0", "encoding"), [(False, "base64"), (True, "base58")])
async def test_sol_transfer__exact_lamport_changes_fee_included__then_chain_agrees(
    net: LocalnetHandle, platform_rpc, payer: Keypair, v0: bool, encoding: str
):
    recipient = Keypair().pubkey()
    amount = 123_456_789
    tx = signed(
        net,
        payer,
        [
            # A priority fee makes the fee more than the 5,000-lamport signature fee.
            Instruction(
                Pubkey.from_string("ComputeBudget111111111111111111111111111111"),
                bytes([3]) + (50_000).to_bytes(8, "little"),
                [],
            ),
            system_transfer(
                TransferParams(from_pubkey=payer.pubkey(), to_pubkey=recipient, lamports=amount)
            ),
        ],
        v0=v0,
    )
    fee = fee_of(net, tx)
    assert fee > 5_000
    payer_before = lamports(net, payer.pubkey())
    wire = b64(tx) if encoding == "base64" else b58encode(bytes(tx))

    response = await simulate(
        {
            "transaction": wire,
            "encoding": encoding,
            "sig_verify": True,
            "accounts": [str(recipient), SYSTEM_PROGRAM],
        }
    )

    assert response.status == 200, response.body
    out = response.json()
    assert out["success"] is True and out["error"] is None
    assert out["version"] == ("0" if v0 else "legacy")
    assert out["fee"] == fee and out["fee_ui"] == f"0.{fee:09d}".rstrip("0")
    assert out["units_consumed"] > 0 and any("invoke [1]" in line for line in out["logs"])
    changes = {c["account"]: c for c in out["balance_changes"]["sol"]}
    assert set(changes) == {str(payer.pubkey()), str(recipient)}
    assert changes[str(payer.pubkey())]["before"] == payer_before
    assert changes[str(payer.pubkey())]["change"] == -(amount + fee)
    assert changes[str(recipient)] == {
        "account": str(recipient),
        "program_owner": SYSTEM_PROGRAM,
        "before": 0,
        "after": amount,
        "change": amount,
        "change_ui": "0.123456789",
    }
    assert out["balance_changes"]["tokens"] == []
    owners = out["balance_changes"]["owners"]
    assert owners[0]["owner"] == str(payer.pubkey())  # the fee payer's summary comes first
    assert owners[0]["sol_change"] == -(amount + fee)
    assert owners[0]["sol_change_ui"] == "-" + f"{(amount + fee) / SOL:.9f}".rstrip("0")
    recipient_state, program_state = out["accounts"]
    assert recipient_state["exists"] and recipient_state["written"]
    assert recipient_state["lamports"] == amount
    assert program_state["exists"] and not program_state["written"]
    assert program_state["executable"] is True

    # Nothing moved yet; sending the same transaction moves exactly what was announced.
    assert lamports(net, recipient) == 0
    net.chain.execute(tx)
    assert lamports(net, payer.pubkey()) == changes[str(payer.pubkey())]["after"]
    assert lamports(net, recipient) == amount


# ---- SPL token transfer -----------------------------------------------------------------


@pytest.mark.parametrize("program", [TOKEN_PROGRAM, TOKEN_2022_PROGRAM])
async def test_token_transfer__raw_and_ui_changes_per_account_and_owner__then_chain_agrees(
    net: LocalnetHandle, platform_rpc, payer: Keypair, program: Pubkey
):
    mint = create_mint(net, payer, decimals=6, program=program)
    source = create_token_account(net, payer, mint, payer.pubkey())
    recipient = Keypair().pubkey()
    mint_to(net, payer, mint, source, 5_000_000)
    dest = associated_token_address(recipient, mint, program)
    tx = signed(
        net,
        payer,
        [
            create_idempotent_associated_token_account(
                payer.pubkey(), recipient, mint, token_program_id=program
            ),
            transfer_checked(program, source, mint, dest, payer.pubkey(), 1_500_000),
        ],
    )
    fee = fee_of(net, tx)

    response = await simulate({"transaction": b64(tx)})

    assert response.status == 200, response.body
    out = response.json()
    assert out["success"] is True
    tokens = {c["account"]: c for c in out["balance_changes"]["tokens"]}
    assert tokens == {
        str(source): {
            "account": str(source),
            "owner": str(payer.pubkey()),
            "mint": str(mint),
            "program": str(program),
            "decimals": 6,
            "before": "5000000",
            "after": "3500000",
            "change": "-1500000",
            "before_ui": "5",
            "after_ui": "3.5",
            "change_ui": "-1.5",
        },
        str(dest): {
            "account": str(dest),
            "owner": str(recipient),
            "mint": str(mint),
            "program": str(program),
            "decimals": 6,
            "before": "0",
            "after": "1500000",
            "change": "1500000",
            "before_ui": "0",
            "after_ui": "1.5",
            "change_ui": "1.5",
        },
    }
    sol = {c["account"]: c for c in out["balance_changes"]["sol"]}
    rent = sol[str(dest)]["change"]  # the new token account's rent, paid by the payer
    assert rent > 0 and sol[str(dest)]["program_owner"] == str(program)
    assert sol[str(payer.pubkey())]["change"] == -(rent + fee)
    payer_summary, recipient_summary = out["balance_changes"]["owners"]
    assert payer_summary == {
        "owner": str(payer.pubkey()),
        "sol_change": -(rent + fee),
        "sol_change_ui": payer_summary["sol_change_ui"],
        "tokens": [
            {
                "mint": str(mint),
                "program": str(program),
                "decimals": 6,
                "change": "-1500000",
                "change_ui": "-1.5",
            }
        ],
    }
    assert recipient_summary["owner"] == str(recipient)
    assert recipient_summary["sol_change"] == 0
    assert recipient_summary["tokens"][0]["change_ui"] == "1.5"

    net.chain.execute(tx)
    assert token_balance(net, source) == 3_500_000
    assert token_balance(net, dest) == 1_500_000
    assert lamports(net, payer.pubkey()) == sol[str(payer.pubkey())]["after"]


# ---- decoded errors ---------------------------------------------------------------------


async def test_pump_buy_with_too_low_max_sol_cost__idl_error_name_message_and_index(
    net: LocalnetHandle, platform_rpc, payer: Keypair
):
    mint = Keypair()
    send_instructions(
        net,
        payer,
        [
            pump_ix.create(
                mint=mint.pubkey(),
                user=payer.pubkey(),
                creator=payer.pubkey(),
                name="Sim Dog",
                symbol="SDOG",
                uri="https://example.invalid/sdog.json",
            )
        ],
        signers=[mint],
    )
    trader = Keypair()
    net.chain.airdrop(trader.pubkey(), 10 * SOL)
    tx = signed(
        net,
        trader,
        [
            create_idempotent_associated_token_account(
                trader.pubkey(), trader.pubkey(), mint.pubkey()
            ),
            pump_ix.buy(
                user=trader.pubkey(),
                mint=mint.pubkey(),
                creator=payer.pubkey(),
                fee_recipient=FEE_RECIPIENTS[0],
                buyback_fee_recipient=BUYBACK_FEE_RECIPIENTS[0],
                amount=1_000_000_000,  # 1,000 tokens
                max_sol_cost=1,  # one lamport: far too little
            ),
        ],
    )
    fee = fee_of(net, tx)
    idl_error = next(e for e in PUMP.idl["errors"] if e["name"] == "TooMuchSolRequired")

    response = await simulate({"transaction": b64(tx)})

    assert response.status == 200, response.body
    out = response.json()
    assert out["success"] is False
    assert out["error"] == {
        "raw": {"InstructionError": [1, {"Custom": idl_error["code"]}]},
        "kind": "InstructionError",
        "instruction_index": 1,
        "program_id": PUMP_PROGRAM,
        "failed_program_id": PUMP_PROGRAM,
        "custom_code": idl_error["code"],
        "name": "TooMuchSolRequired",
        "message": idl_error["msg"],
        "account": None,
    }
    # A failing instruction still lands and costs the fee; nothing else moves.
    assert out["balance_changes"]["sol"] == [
        {
            "account": str(trader.pubkey()),
            "program_owner": SYSTEM_PROGRAM,
            "before": 10 * SOL,
            "after": 10 * SOL - fee,
            "change": -fee,
            "change_ui": out["balance_changes"]["sol"][0]["change_ui"],
        }
    ]
    assert out["balance_changes"]["tokens"] == []


async def test_token_transfer_over_balance__token_program_error_named(
    net: LocalnetHandle, platform_rpc, payer: Keypair
):
    mint = create_mint(net, payer, decimals=6)
    source = create_token_account(net, payer, mint, payer.pubkey())
    dest = create_token_account(net, payer, mint, Keypair().pubkey())
    mint_to(net, payer, mint, source, 1_000)
    tx = signed(
        net, payer, [transfer_checked(TOKEN_PROGRAM, source, mint, dest, payer.pubkey(), 1_001)]
    )

    out = (await simulate({"transaction": b64(tx)})).json()

    assert out["success"] is False
    assert out["error"]["program_id"] == str(TOKEN_PROGRAM)
    assert (out["error"]["custom_code"], out["error"]["name"]) == (1, "InsufficientFunds")
    assert out["error"]["message"] == "Insufficient funds"


async def test_sol_transfer_over_balance__system_program_error_named(
    net: LocalnetHandle, platform_rpc, payer: Keypair
):
    tx = signed(
        net,
        payer,
        [
            system_transfer(
                TransferParams(
                    from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=100 * SOL
                )
            )
        ],
    )

    out = (await simulate({"transaction": b64(tx)})).json()

    assert out["error"]["instruction_index"] == 0
    assert out["error"]["program_id"] == SYSTEM_PROGRAM
    assert out["error"]["name"] == "ResultWithNegativeLamports"


async def test_unsigned_stale_transaction__replace_recent_blockhash__previews_with_fee(
    net: LocalnetHandle, platform_rpc, payer: Keypair
):
    recipient = Keypair().pubkey()
    message = Message.new_with_blockhash(
        [
            system_transfer(
                TransferParams(from_pubkey=payer.pubkey(), to_pubkey=recipient, lamports=SOL)
            )
        ],
        payer.pubkey(),
        Hash.new_unique(),  # a blockhash the chain never produced
    )
    unsigned = VersionedTransaction.populate(message, [Signature.default()])

    stale = (await simulate({"transaction": b64(unsigned)})).json()
    previewed = (
        await simulate({"transaction": b64(unsigned), "replace_recent_blockhash": True})
    ).json()

    assert stale["success"] is False
    assert stale["error"]["kind"] == "BlockhashNotFound"
    assert stale["balance_changes"] == {"sol": [], "tokens": [], "owners": []}
    assert previewed["success"] is True
    assert previewed["replacement_blockhash"]["blockhash"] != str(message.recent_blockhash)
    assert previewed["fee"] == 5_000
    changes = {c["account"]: c["change"] for c in previewed["balance_changes"]["sol"]}
    assert changes == {str(payer.pubkey()): -(SOL + 5_000), str(recipient): SOL}


# ---- bad input: 422 naming the field, before any RPC call ---------------------------------


def _valid_wire() -> str:
    payer = Keypair()
    message = Message.new_with_blockhash(
        [
            system_transfer(
                TransferParams(from_pubkey=payer.pubkey(), to_pubkey=payer.pubkey(), lamports=1)
            )
        ],
        payer.pubkey(),
        Hash.new_unique(),
    )
    return b64(VersionedTransaction(message, [payer]))


def _oversized_wire() -> str:
    payer = Keypair()
    memo = Pubkey.from_string("MemoSq4gqABAXKb96qnH83zYEVj4iYsV1Qt7sASVB4f")
    message = Message.new_with_blockhash(
        [Instruction(memo, b"x" * 1_200, [])], payer.pubkey(), Hash.new_unique()
    )
    return b64(VersionedTransaction(message, [payer]))


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"transaction": "not base64!"}, "transaction", "invalid_encoding"),
        ({"transaction": "0OIl", "encoding": "base58"}, "transaction", "invalid_encoding"),
        (
            {"transaction": base64.b64encode(b"\x01garbage bytes, not a tx").decode()},
            "transaction",
            "invalid_transaction",
        ),
        ({"transaction": _oversized_wire()}, "transaction", "transaction_too_large"),
        (
            {"transaction": base64.b64encode(bytes(1_233)).decode()},
            "transaction",
            "transaction_too_large",
        ),
        ({"transaction": _valid_wire(), "skip_preflight": True}, "skip_preflight", None),
        ({"transaction": _valid_wire(), "encoding": "hex"}, "encoding", None),
        ({"transaction": _valid_wire(), "accounts": ["not-a-pubkey"]}, "accounts.0", None),
        ({"transaction": _valid_wire(), "sig_verify": "yes"}, "sig_verify", None),
        ({}, "transaction", None),
        (
            {"transaction": _valid_wire(), "sig_verify": True, "replace_recent_blockhash": True},
            "sig_verify",
            "invalid_options",
        ),
    ],
)
async def test_bad_input__422_naming_the_field_without_touching_the_upstream(
    dead_upstream, body: dict, field: str, code: str | None
):
    response = await simulate(body)

    assert response.status == 422, response.body
    error = response.json()["error"]
    assert error["field"] == field
    if code:
        assert error["code"] == code


async def test_bad_signature_with_sig_verify__422_before_any_rpc_call(dead_upstream):
    payer = Keypair()
    message = Message.new_with_blockhash(
        [
            system_transfer(
                TransferParams(from_pubkey=payer.pubkey(), to_pubkey=payer.pubkey(), lamports=1)
            )
        ],
        payer.pubkey(),
        Hash.new_unique(),
    )
    forged = VersionedTransaction.populate(message, [Keypair().sign_message(bytes(message))])

    response = await simulate({"transaction": b64(forged), "sig_verify": True})

    assert response.status == 422
    assert response.json()["error"]["code"] == "signature_verification_failed"


async def test_upstream_down__503_quickly(dead_upstream):
    started = time.monotonic()

    response = await simulate({"transaction": _valid_wire()})

    assert response.status == 503, response.body
    assert response.json()["error"]["code"] == "upstream_unavailable"
    assert time.monotonic() - started < 2.0


# ---- v0 with an address lookup table ----------------------------------------------------

ALT_PROGRAM = Pubkey.from_string("AddressLookupTab1e1111111111111111111111111")


def install_lookup_table(net: LocalnetHandle, addresses: list[Pubkey]) -> Pubkey:
    """A lookup table holding `addresses`, active since slot 0 (LookupTableMeta layout:
    u32 type=1, deactivation slot u64::MAX, last extended slot, start index, no authority,
    u16 padding; then the addresses)."""
    from solders.account import Account

    key = Keypair().pubkey()
    meta = struct.pack("<IQQBB32sH", 1, 2**64 - 1, 0, 0, 0, bytes(32), 0)
    data = meta + b"".join(bytes(a) for a in addresses)
    rent = net.chain.minimum_balance_for_rent_exemption(len(data))
    net.chain.set_account(key, Account(rent, data, ALT_PROGRAM, False, 2**64 - 1))
    net.chain.advance_slot()  # addresses extended in an earlier slot are usable
    return key


async def test_v0_with_lookup_table__watches_loaded_writable_accounts(
    net: LocalnetHandle, platform_rpc, payer: Keypair
):
    from solders.address_lookup_table_account import AddressLookupTableAccount

    recipient = Keypair().pubkey()
    table = install_lookup_table(net, [recipient])
    blockhash, _ = net.chain.latest_blockhash("processed")
    message = MessageV0.try_compile(
        payer.pubkey(),
        [
            system_transfer(
                TransferParams(from_pubkey=payer.pubkey(), to_pubkey=recipient, lamports=SOL)
            )
        ],
        [AddressLookupTableAccount(table, [recipient])],
        blockhash,
    )
    assert recipient not in message.account_keys  # it only comes through the table
    tx = VersionedTransaction(message, [payer])

    out = (await simulate({"transaction": b64(tx), "accounts": [str(recipient)]})).json()

    assert out["success"] is True, out["error"]
    changes = {c["account"]: c["change"] for c in out["balance_changes"]["sol"]}
    assert changes == {str(payer.pubkey()): -(SOL + out["fee"]), str(recipient): SOL}
    assert out["accounts"][0]["written"] is True and out["accounts"][0]["lamports"] == SOL


# ---- a hung upstream ---------------------------------------------------------------------


async def test_upstream_hangs__503_after_the_rpc_timeout_not_later(settings):
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts connections, never answers
    try:
        settings.SOLANA_RPC_URLS = [f"http://127.0.0.1:{silent.getsockname()[1]}"]
        settings.SOLANA_RPC_TIMEOUT = 0.3
        started = time.monotonic()

        response = await simulate({"transaction": _valid_wire()})

        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert response.status == 503, response.body
    assert response.json()["error"]["code"] == "upstream_unavailable"
    assert 0.3 <= elapsed < 1.5


# ---- error decoding for programs without a shipped IDL ------------------------------------


def test_decode_error__other_anchor_program__named_from_its_anchor_error_log():
    from apps.trading.services.simulation import decode_error

    payer, program = Keypair().pubkey(), Keypair().pubkey()
    message = Message.new_with_blockhash(
        [Instruction(program, b"", [AccountMeta(payer, True, True)])], payer, Hash.default()
    )
    logs = [
        f"Program {program} invoke [1]",
        "Program log: AnchorError occurred. Error Code: SlippageExceeded. Error Number: 6001. "
        "Error Message: Slippage tolerance exceeded.",
        f"Program {program} failed: custom program error: 0x1771",
    ]

    error = decode_error(
        {"InstructionError": [0, {"Custom": 6001}]},
        keys=message.account_keys,
        message=message,
        logs=logs,
    )

    assert (error.instruction_index, error.program_id) == (0, str(program))
    assert (error.name, error.message) == ("SlippageExceeded", "Slippage tolerance exceeded")


def test_decode_error__pump_framework_error__anchor_table():
    from apps.trading.services.simulation import decode_error

    payer, pump = Keypair().pubkey(), Pubkey.from_string(PUMP_PROGRAM)
    message = Message.new_with_blockhash(
        [Instruction(pump, b"", [AccountMeta(payer, True, True)])], payer, Hash.default()
    )

    error = decode_error(
        {"InstructionError": [0, {"Custom": 2006}]},
        keys=message.account_keys,
        message=message,
        logs=[],
    )

    assert (error.name, error.message) == ("ConstraintSeeds", "A seeds constraint was violated")
