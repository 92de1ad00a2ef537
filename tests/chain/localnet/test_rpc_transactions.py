"""Sending, simulating and looking up real signed transactions over raw JSON-RPC."""

from __future__ import annotations

import base64

from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from apps.chain.localnet import LocalnetHandle
from tests.chain.localnet import SOL, b64, badly_signed, result, rpc, transfer_tx

SYSTEM_PROGRAM = "11111111111111111111111111111111"


def _blockhash(net: LocalnetHandle) -> Hash:
    value = result(net.rpc_url, "getLatestBlockhash", [{"commitment": "processed"}])["value"]
    return Hash.from_string(value["blockhash"])


def _send(net: LocalnetHandle, tx: VersionedTransaction, **config: object) -> dict:
    return rpc(net.rpc_url, "sendTransaction", [b64(tx), {"encoding": "base64", **config}])


def test_send__lands_and_status_moves_to_finalized(net: LocalnetHandle, payer: Keypair) -> None:
    to = Keypair().pubkey()
    tx = transfer_tx(payer, to, SOL, _blockhash(net))

    signature = _send(net, tx)["result"]

    assert signature == str(tx.signatures[0])
    slot = net.chain.slot
    statuses = result(net.rpc_url, "getSignatureStatuses", [[signature, "1" * 64]])
    assert statuses["value"] == [
        {
            "confirmationStatus": "processed",
            "confirmations": 0,
            "err": None,
            "slot": slot,
            "status": {"Ok": None},
        },
        None,
    ]
    net.chain.advance_slot()
    assert (
        result(net.rpc_url, "getSignatureStatuses", [[signature]])["value"][0]["confirmationStatus"]
        == "confirmed"
    )
    net.chain.advance_slot(32)
    final = result(net.rpc_url, "getSignatureStatuses", [[signature]])["value"][0]
    assert final["confirmationStatus"] == "finalized" and final["confirmations"] is None
    assert result(net.rpc_url, "getBalance", [str(to)])["value"] == SOL


def test_send__base58_encoding_is_the_default(net: LocalnetHandle, payer: Keypair) -> None:
    from apps.chain.localnet.b58 import b58encode

    tx = transfer_tx(payer, Keypair().pubkey(), SOL, _blockhash(net))

    answer = rpc(net.rpc_url, "sendTransaction", [b58encode(bytes(tx))])

    assert answer["result"] == str(tx.signatures[0])


def test_send__bad_signature_is_32003(net: LocalnetHandle, payer: Keypair) -> None:
    tx = badly_signed(transfer_tx(payer, Keypair().pubkey(), SOL, _blockhash(net)))

    assert _send(net, tx)["error"] == {
        "code": -32003,
        "message": "Transaction signature verification failure",
    }


def test_send__expired_blockhash_fails_preflight_32002(net: LocalnetHandle, payer: Keypair) -> None:
    old = _blockhash(net)
    net.chain.advance_slot(151)
    tx = transfer_tx(payer, Keypair().pubkey(), SOL, old)

    error = _send(net, tx)["error"]

    assert error["code"] == -32002
    assert error["message"] == "Transaction simulation failed: Blockhash not found"
    assert error["data"]["err"] == "BlockhashNotFound"
    assert error["data"]["accounts"] is None and error["data"]["logs"] == []
    # Without preflight the node takes it, and it never lands.
    assert _send(net, tx, skipPreflight=True)["result"] == str(tx.signatures[0])
    statuses = result(net.rpc_url, "getSignatureStatuses", [[str(tx.signatures[0])]])
    assert statuses["value"] == [None]


def test_send__failing_instruction_fails_preflight_with_logs(
    net: LocalnetHandle, payer: Keypair
) -> None:
    tx = transfer_tx(payer, Keypair().pubkey(), 1_000 * SOL, _blockhash(net))

    error = _send(net, tx)["error"]

    assert error["code"] == -32002
    assert error["message"] == (
        "Transaction simulation failed: Error processing Instruction 0: custom program error: 0x1"
    )
    assert error["data"]["err"] == {"InstructionError": [0, {"Custom": 1}]}
    assert any("insufficient lamports" in line for line in error["data"]["logs"])
    assert result(net.rpc_url, "getBalance", [str(payer.pubkey())])["value"] == 10 * SOL


def test_simulate__unsigned_with_replace_recent_blockhash(
    net: LocalnetHandle, payer: Keypair
) -> None:
    to = Keypair().pubkey()
    message = transfer_tx(payer, to, SOL, Hash.default()).message
    unsigned = VersionedTransaction.populate(message, [Keypair().sign_message(b"")])
    config = {
        "encoding": "base64",
        "replaceRecentBlockhash": True,
        "innerInstructions": True,
        "accounts": {"addresses": [str(to)], "encoding": "base64"},
    }

    value = result(net.rpc_url, "simulateTransaction", [b64(unsigned), config])["value"]

    assert value["err"] is None
    assert value["logs"][-1] == f"Program {SYSTEM_PROGRAM} success"
    assert value["unitsConsumed"] == 150
    assert value["accounts"][0]["lamports"] == SOL
    assert value["innerInstructions"] == []
    assert value["returnData"] is None
    assert value["replacementBlockhash"]["blockhash"] == str(_blockhash(net))
    assert result(net.rpc_url, "getAccountInfo", [str(to)])["value"] is None


def test_simulate__sig_verify_conflicts_and_checks(net: LocalnetHandle, payer: Keypair) -> None:
    tx = badly_signed(transfer_tx(payer, Keypair().pubkey(), SOL, _blockhash(net)))
    both = {"encoding": "base64", "sigVerify": True, "replaceRecentBlockhash": True}

    conflict = rpc(net.rpc_url, "simulateTransaction", [b64(tx), both])["error"]
    bad_sig = rpc(
        net.rpc_url, "simulateTransaction", [b64(tx), {"encoding": "base64", "sigVerify": True}]
    )
    unchecked = result(net.rpc_url, "simulateTransaction", [b64(tx), {"encoding": "base64"}])

    assert conflict == {
        "code": -32602,
        "message": "sigVerify may not be used with replaceRecentBlockhash",
    }
    assert bad_sig["error"]["code"] == -32003
    assert unchecked["value"]["err"] is None  # sigVerify defaults to false


def test_get_transaction__json_and_base64(net: LocalnetHandle, payer: Keypair) -> None:
    to = Keypair().pubkey()
    tx = transfer_tx(payer, to, SOL, _blockhash(net), cu_price=1_000)
    signature = _send(net, tx)["result"]
    assert result(net.rpc_url, "getTransaction", [signature, {"commitment": "confirmed"}]) is None

    net.chain.advance_slot()
    as_json = result(net.rpc_url, "getTransaction", [signature, {"commitment": "confirmed"}])
    as_b64 = result(
        net.rpc_url,
        "getTransaction",
        [
            signature,
            {"commitment": "confirmed", "encoding": "base64", "maxSupportedTransactionVersion": 0},
        ],
    )

    meta = as_json["meta"]
    assert as_json["slot"] == net.chain.slot - 1 and isinstance(as_json["blockTime"], int)
    assert "version" not in as_json and "loadedAddresses" not in meta
    assert meta["err"] is None and meta["status"] == {"Ok": None}
    assert meta["fee"] == 5000 + 6  # 6,000 CU default for two builtins at 1,000 µL/CU
    assert meta["preBalances"][:2] == [10 * SOL, 0]
    assert meta["postBalances"][:2] == [9 * SOL - meta["fee"], SOL]
    assert meta["computeUnitsConsumed"] == 300
    assert meta["logMessages"][-1] == f"Program {SYSTEM_PROGRAM} success"
    assert meta["innerInstructions"] == [] and meta["rewards"] == []
    message = as_json["transaction"]["message"]
    assert as_json["transaction"]["signatures"] == [signature]
    assert message["accountKeys"][:2] == [str(payer.pubkey()), str(to)]
    assert message["header"] == {
        "numReadonlySignedAccounts": 0,
        "numReadonlyUnsignedAccounts": 2,
        "numRequiredSignatures": 1,
    }
    assert as_b64["version"] == "legacy"
    assert as_b64["meta"]["loadedAddresses"] == {"readonly": [], "writable": []}
    assert base64.b64decode(as_b64["transaction"][0]) == bytes(tx)


def test_get_transaction__finalized_only_after_32_slots(
    net: LocalnetHandle, payer: Keypair
) -> None:
    signature = _send(net, transfer_tx(payer, Keypair().pubkey(), SOL, _blockhash(net)))["result"]
    net.chain.advance_slot(31)
    assert result(net.rpc_url, "getTransaction", [signature]) is None

    net.chain.advance_slot()

    assert result(net.rpc_url, "getTransaction", [signature])["meta"]["err"] is None


def test_signatures_for_address__newest_first_with_paging(
    net: LocalnetHandle, payer: Keypair
) -> None:
    to = Keypair().pubkey()
    sigs = []
    for amount in (1, 2, 3):
        sigs.append(_send(net, transfer_tx(payer, to, amount * SOL, _blockhash(net)))["result"])
        net.chain.advance_slot()

    confirmed = {"commitment": "confirmed"}

    listed = result(net.rpc_url, "getSignaturesForAddress", [str(to), confirmed])
    page = result(
        net.rpc_url,
        "getSignaturesForAddress",
        [str(to), {**confirmed, "before": sigs[2], "limit": 1}],
    )
    until = result(
        net.rpc_url, "getSignaturesForAddress", [str(to), {**confirmed, "until": sigs[0]}]
    )
    finalized = result(net.rpc_url, "getSignaturesForAddress", [str(to)])  # the default

    assert [item["signature"] for item in listed] == sigs[::-1]
    assert set(listed[0]) == {"blockTime", "confirmationStatus", "err", "memo", "signature", "slot"}
    assert listed[0]["confirmationStatus"] == "confirmed" and listed[0]["memo"] is None
    assert [item["signature"] for item in page] == [sigs[1]]
    assert [item["signature"] for item in until] == [sigs[2], sigs[1]]
    assert finalized == []
    error = rpc(net.rpc_url, "getSignaturesForAddress", [str(to), {"limit": 1001}])["error"]
    assert error == {"code": -32602, "message": "Invalid limit; max 1000"}


def test_recent_prioritization_fees__from_executed_cu_prices(
    net: LocalnetHandle, payer: Keypair
) -> None:
    net.chain.advance_slot()  # a slot holding only our transaction
    hot = Keypair().pubkey()
    _send(net, transfer_tx(payer, hot, SOL, _blockhash(net), cu_price=25_000))
    slot = net.chain.slot
    net.chain.advance_slot()

    overall = result(net.rpc_url, "getRecentPrioritizationFees")
    for_hot = result(net.rpc_url, "getRecentPrioritizationFees", [[str(hot)]])

    assert {"prioritizationFee": 25_000, "slot": slot} in overall
    assert {"prioritizationFee": 25_000, "slot": slot} in for_hot
    assert len(overall) <= 150 and overall == sorted(overall, key=lambda item: item["slot"])


def test_request_airdrop__real_transaction(net: LocalnetHandle) -> None:
    who = Keypair().pubkey()

    signature = result(net.rpc_url, "requestAirdrop", [str(who), 2 * SOL])

    balance = result(net.rpc_url, "getBalance", [str(who), {"commitment": "processed"}])
    assert balance["value"] == 2 * SOL
    status = result(net.rpc_url, "getSignatureStatuses", [[signature]])["value"][0]
    assert status["err"] is None and status["confirmationStatus"] == "processed"


def test_v0_message__needs_max_supported_version(net: LocalnetHandle, payer: Keypair) -> None:
    from solders.message import MessageV0
    from solders.system_program import TransferParams, transfer

    ix = transfer(
        TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=SOL)
    )
    message = MessageV0.try_compile(payer.pubkey(), [ix], [], _blockhash(net))
    tx = VersionedTransaction(message, [payer])
    signature = _send(net, tx)["result"]
    net.chain.advance_slot()

    refused = rpc(net.rpc_url, "getTransaction", [signature, {"commitment": "confirmed"}])["error"]
    accepted = result(
        net.rpc_url,
        "getTransaction",
        [signature, {"commitment": "confirmed", "maxSupportedTransactionVersion": 0}],
    )

    assert refused["code"] == -32015
    assert accepted["version"] == 0
    assert accepted["transaction"]["message"]["addressTableLookups"] == []


def test_legacy_message_helper_is_unchanged(payer: Keypair) -> None:
    # Guard for the helpers above: a legacy message serialises as solders builds it.
    tx = transfer_tx(payer, Keypair().pubkey(), SOL, Hash.default())
    assert isinstance(tx.message, Message)


def test_simulate__accounts_json_parsed_show_the_simulated_token_balance(
    net: LocalnetHandle, payer: Keypair
) -> None:
    import struct

    from solders.instruction import AccountMeta, Instruction

    from apps.chain.localnet import fixtures
    from apps.chain.localnet.records import TOKEN_2022_PROGRAM

    mint = fixtures.create_mint(net, payer, decimals=3, program=TOKEN_2022_PROGRAM)
    source = fixtures.create_token_account(net, payer, mint, payer.pubkey())
    receiver = Keypair().pubkey()
    destination = fixtures.create_token_account(net, payer, mint, receiver)
    fixtures.mint_to(net, payer, mint, source, 1_000)
    transfer_checked = Instruction(
        TOKEN_2022_PROGRAM,
        struct.pack("<BQB", 12, 250, 3),
        [
            AccountMeta(source, False, True),
            AccountMeta(mint, False, False),
            AccountMeta(destination, False, True),
            AccountMeta(payer.pubkey(), True, False),
        ],
    )
    message = Message.new_with_blockhash([transfer_checked], payer.pubkey(), Hash.default())
    tx = VersionedTransaction.populate(message, [Signature.default()])
    sim = result(
        net.rpc_url,
        "simulateTransaction",
        [
            b64(tx),
            {
                "encoding": "base64",
                "replaceRecentBlockhash": True,
                "accounts": {"encoding": "jsonParsed", "addresses": [str(destination)]},
            },
        ],
    )["value"]
    assert sim["err"] is None, sim
    parsed = sim["accounts"][0]["data"]
    assert parsed["program"] == "spl-token-2022"
    info = parsed["parsed"]["info"]
    assert info["owner"] == str(receiver)
    assert info["tokenAmount"] == {
        "amount": "250",
        "decimals": 3,
        "uiAmount": 0.25,
        "uiAmountString": "0.25",
    }
    assert fixtures.token_balance(net, destination) == 0  # simulated, not committed
