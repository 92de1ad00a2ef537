"""Raw JSON-RPC over real HTTP: the validator's exact envelopes, shapes and errors."""

from __future__ import annotations

import base64

import httpx
import pytest
from solders.account import Account
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from apps.chain.localnet import LocalnetHandle
from tests.chain.localnet import SOL, b64, result, rpc, transfer_tx

TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")


def _blockhash(net: LocalnetHandle) -> Hash:
    return Hash.from_string(
        result(net.rpc_url, "getLatestBlockhash", [{"commitment": "processed"}])["value"][
            "blockhash"
        ]
    )


# ---- envelope ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (b"{not json", -32700, "Parse error"),
        (b"[]", -32600, "Invalid request"),
        (b'{"jsonrpc":"1.0","id":1,"method":"getSlot"}', -32600, "Invalid request"),
        (b'{"jsonrpc":"2.0","id":1}', -32600, "Invalid request"),
        (b'{"jsonrpc":"2.0","id":1,"method":"getNothing"}', -32601, "Method not found"),
    ],
)
def test_envelope_errors__validator_codes(
    net: LocalnetHandle, body: bytes, code: int, message: str
) -> None:
    response = httpx.post(net.rpc_url, content=body, headers={"content-type": "application/json"})

    answer = response.json()
    assert answer["jsonrpc"] == "2.0"
    assert answer["error"] == {"code": code, "message": message}
    assert result(net.rpc_url, "getHealth") == "ok"  # still serving


def test_batch__answers_each_in_order(net: LocalnetHandle) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "getHealth"},
        {"jsonrpc": "2.0", "id": "two", "method": "getBalance", "params": ["not-a-key!"]},
        {"jsonrpc": "2.0", "method": "getSlot"},  # a notification gets no answer
        {"jsonrpc": "2.0", "id": 3, "method": "nope"},
    ]

    answers = httpx.post(net.rpc_url, json=batch).json()

    assert answers == [
        {"jsonrpc": "2.0", "result": "ok", "id": 1},
        {
            "jsonrpc": "2.0",
            "error": {"code": -32602, "message": "Invalid param: Invalid"},
            "id": "two",
        },
        {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": 3},
    ]


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        ("getBalance", ["0OIl"], "Invalid param: Invalid"),
        ("getBalance", ["abc"], "Invalid param: WrongSize"),
        ("getBalance", [5], "Invalid params: invalid type: integer `5`, expected a string."),
        ("getBalance", [], "`params` should have at least 1 argument(s)"),
        ("getSignatureStatuses", [["xyz"]], "Invalid param: WrongSize"),
        (
            "getAccountInfo",
            [str(Pubkey.default()), {"commitment": "eventual"}],
            "Invalid params: unknown variant `eventual`, expected one of "
            "`processed`, `confirmed`, `finalized`.",
        ),
        (
            "getMultipleAccounts",
            [[str(Pubkey.default())] * 101],
            "Too many inputs provided; max 100",
        ),
        (
            "getTransaction",
            ["1" * 64, {"commitment": "processed"}],
            "Method does not support commitment below `confirmed`",
        ),
        ("sendTransaction", ["%%%", {"encoding": "base64"}], None),
        ("sendTransaction", ["AAAA", {"encoding": "base64"}], None),
        (
            "sendTransaction",
            ["AAAA", {"encoding": "json"}],
            "unsupported encoding: json. Supported encodings: base58, base64",
        ),
    ],
)
def test_invalid_params__32602_with_validator_text(
    net: LocalnetHandle, method: str, params: list, message: str | None
) -> None:
    error = rpc(net.rpc_url, method, params)["error"]

    assert error["code"] == -32602
    if message is not None:
        assert error["message"] == message


def test_min_context_slot__32016_with_context_slot(net: LocalnetHandle) -> None:
    slot = net.chain.slot

    error = rpc(net.rpc_url, "getSlot", [{"commitment": "processed", "minContextSlot": slot + 5}])

    assert error["error"] == {
        "code": -32016,
        "message": "Minimum context slot has not been reached",
        "data": {"contextSlot": slot},
    }


# ---- cluster and accounts ------------------------------------------------------------


def test_slot_by_commitment__processed_confirmed_finalized(net: LocalnetHandle) -> None:
    net.chain.advance_slot(40)
    slot = net.chain.slot

    assert result(net.rpc_url, "getSlot", [{"commitment": "processed"}]) == slot
    assert result(net.rpc_url, "getSlot", [{"commitment": "confirmed"}]) == slot - 1
    assert result(net.rpc_url, "getSlot") == slot - 32  # finalized is the default
    assert result(net.rpc_url, "getBlockHeight", [{"commitment": "processed"}]) == slot


def test_contextful_shape__context_slot_and_api_version(
    net: LocalnetHandle, payer: Keypair
) -> None:
    answer = rpc(net.rpc_url, "getBalance", [str(payer.pubkey()), {"commitment": "processed"}])

    assert answer == {
        "jsonrpc": "2.0",
        "result": {
            "context": {"apiVersion": "2.3.0", "slot": net.chain.slot},
            "value": 10 * SOL,
        },
        "id": 1,
    }


def test_latest_blockhash__valid_then_expires_after_150_slots(net: LocalnetHandle) -> None:
    value = result(net.rpc_url, "getLatestBlockhash", [{"commitment": "processed"}])["value"]
    assert value["lastValidBlockHeight"] == net.chain.slot + 150
    assert result(net.rpc_url, "isBlockhashValid", [value["blockhash"]])["value"] is True

    net.chain.advance_slot(151)

    assert result(net.rpc_url, "isBlockhashValid", [value["blockhash"]])["value"] is False


def test_get_account_info__encodings_and_data_slice(net: LocalnetHandle) -> None:
    key = Keypair().pubkey()
    data = bytes(range(200))
    net.chain.set_account(key, Account(lamports=SOL, data=data, owner=TOKEN_PROGRAM))

    def value(config: dict) -> dict:
        return result(net.rpc_url, "getAccountInfo", [str(key), config])["value"]

    plain = value({"encoding": "base64"})
    assert plain == {
        "data": [base64.b64encode(data).decode(), "base64"],
        "executable": False,
        "lamports": SOL,
        "owner": str(TOKEN_PROGRAM),
        "rentEpoch": 2**64 - 1,
        "space": 200,
    }
    sliced = value({"encoding": "base58", "dataSlice": {"offset": 1, "length": 3}})
    assert sliced["data"] == ["Ldp", "base58"] and sliced["space"] == 200
    zstd = value({"encoding": "base64+zstd"})
    assert zstd["data"][1] == "base64+zstd"
    assert _zstd_decode(base64.b64decode(zstd["data"][0])) == data
    assert value({"encoding": "jsonParsed"})["data"][1] == "base64"  # unparsed fallback
    too_big = rpc(net.rpc_url, "getAccountInfo", [str(key), {"encoding": "base58"}])["error"]
    assert too_big["code"] == -32600
    assert too_big["message"].startswith("Encoded binary (base 58) data should be less than 128")
    missing = result(net.rpc_url, "getAccountInfo", [str(Keypair().pubkey())])
    assert missing["value"] is None


def test_get_multiple_accounts__null_for_missing(net: LocalnetHandle, payer: Keypair) -> None:
    keys = [str(payer.pubkey()), str(Keypair().pubkey())]

    value = result(net.rpc_url, "getMultipleAccounts", [keys])["value"]

    assert value[0]["lamports"] == 10 * SOL and value[0]["data"] == ["", "base64"]
    assert value[1] is None


def test_fee_for_message__matches_fee_charged(net: LocalnetHandle, payer: Keypair) -> None:
    tx = transfer_tx(
        payer, Keypair().pubkey(), SOL, _blockhash(net), cu_price=10_000, cu_limit=50_000
    )
    message = base64.b64encode(bytes(tx.message)).decode()

    quoted = result(net.rpc_url, "getFeeForMessage", [message])["value"]
    result(net.rpc_url, "sendTransaction", [b64(tx), {"encoding": "base64"}])

    assert quoted == 5000 + 500
    assert net.chain.transaction(tx.signatures[0]).fee == quoted


def test_minimum_balance_for_rent_exemption(net: LocalnetHandle) -> None:
    assert result(net.rpc_url, "getMinimumBalanceForRentExemption", [165]) == 2_039_280
    assert result(net.rpc_url, "getMinimumBalanceForRentExemption", [0]) == 890_880


def _zstd_decode(frame: bytes) -> bytes:
    """Enough of RFC 8878 to read raw/RLE-block frames (what we emit without zstandard)."""
    try:
        import zstandard

        return zstandard.ZstdDecompressor().decompress(frame)
    except ImportError:
        pass
    assert frame[:4] == b"\x28\xb5\x2f\xfd"
    descriptor = frame[4]
    fcs_size = {0: 1 if descriptor & 0x20 else 0, 1: 2, 2: 4, 3: 8}[descriptor >> 6]
    pos = 5 + (0 if descriptor & 0x20 else 1) + fcs_size
    out = bytearray()
    while True:
        header = int.from_bytes(frame[pos : pos + 3], "little")
        last, kind, size = header & 1, (header >> 1) & 3, header >> 3
        pos += 3
        assert kind == 0, "only raw blocks expected"
        out += frame[pos : pos + size]
        pos += size
        if last:
            return bytes(out)
