"""Token and program-account RPC methods over real HTTP, after real mints and transfers.

Each token program gets one world (a mint, three holders, a transfer and a delegate
approval), built with the fixture API's signed transactions, then read back through the
validator-shaped JSON-RPC.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest
import zstandard
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from apps.chain.localnet import LocalnetHandle
from apps.chain.localnet.b58 import b58encode
from apps.chain.localnet.fixtures import (
    TOKEN_2022_PROGRAM,
    TOKEN_PROGRAM,
    DefaultAccountState,
    MintCloseAuthority,
    NonTransferable,
    Pausable,
    PermanentDelegate,
    TransferFee,
    TransferHook,
    airdrop,
    approve,
    create_mint,
    create_token_account,
    mint_to,
    transfer,
)
from tests.chain.localnet import SOL, result, rpc

U64_MAX = 2**64 - 1
PROGRAM_NAMES = {TOKEN_PROGRAM: "spl-token", TOKEN_2022_PROGRAM: "spl-token-2022"}


@dataclass
class TokenWorld:
    program: Pubkey
    mint: Pubkey
    authority: Keypair
    alice: Keypair
    bob: Pubkey
    carol: Pubkey
    delegate: Pubkey
    alice_ata: Pubkey
    bob_ata: Pubkey
    carol_ata: Pubkey


@pytest.fixture(scope="module", params=[TOKEN_PROGRAM, TOKEN_2022_PROGRAM], ids=["spl", "t22"])
def world(net: LocalnetHandle, request: pytest.FixtureRequest) -> TokenWorld:
    program = request.param
    authority, alice = Keypair(), Keypair()
    airdrop(net, authority.pubkey(), 10 * SOL)
    bob, carol, delegate = Keypair().pubkey(), Keypair().pubkey(), Keypair().pubkey()
    mint = create_mint(net, authority, decimals=6, program=program)
    alice_ata = create_token_account(net, authority, mint, alice.pubkey())
    bob_ata = create_token_account(net, authority, mint, bob)
    carol_ata = create_token_account(net, authority, mint, carol)
    mint_to(net, authority, mint, alice_ata, 5_000_000)
    mint_to(net, authority, mint, carol_ata, 1)
    transfer(net, authority, alice_ata, bob_ata, 1_250_000, owner=alice)
    approve(net, authority, alice_ata, delegate, 100, owner=alice)
    return TokenWorld(
        program, mint, authority, alice, bob, carol, delegate, alice_ata, bob_ata, carol_ata
    )


def _amount(amount: int, ui: float, text: str) -> dict:
    return {"amount": str(amount), "decimals": 6, "uiAmount": ui, "uiAmountString": text}


def _error(url: str, method: str, params: list) -> dict:
    answer = rpc(url, method, params)
    assert "result" not in answer, answer
    return answer["error"]


def test_get_token_account_balance__after_mint_and_transfer(
    net: LocalnetHandle, world: TokenWorld
) -> None:
    answer = result(net.rpc_url, "getTokenAccountBalance", [str(world.alice_ata)])

    assert answer["value"] == _amount(3_750_000, 3.75, "3.75")
    assert answer["context"]["slot"] == net.chain.commitment_slot("finalized")
    bob = result(net.rpc_url, "getTokenAccountBalance", [str(world.bob_ata)])["value"]
    carol = result(net.rpc_url, "getTokenAccountBalance", [str(world.carol_ata)])["value"]
    assert bob == _amount(1_250_000, 1.25, "1.25")
    assert carol == _amount(1, 0.000001, "0.000001")


def test_get_token_supply__counts_every_mint(net: LocalnetHandle, world: TokenWorld) -> None:
    value = result(net.rpc_url, "getTokenSupply", [str(world.mint)])["value"]

    assert value == _amount(5_000_001, 5.000001, "5.000001")


def test_get_token_largest_accounts__largest_first(net: LocalnetHandle, world: TokenWorld) -> None:
    value = result(net.rpc_url, "getTokenLargestAccounts", [str(world.mint)])["value"]

    assert value == [
        {"address": str(world.alice_ata), **_amount(3_750_000, 3.75, "3.75")},
        {"address": str(world.bob_ata), **_amount(1_250_000, 1.25, "1.25")},
        {"address": str(world.carol_ata), **_amount(1, 0.000001, "0.000001")},
    ]


def test_get_token_accounts_by_owner__json_parsed(net: LocalnetHandle, world: TokenWorld) -> None:
    owner = str(world.alice.pubkey())
    config = {"encoding": "jsonParsed", "commitment": "processed"}

    by_mint = result(
        net.rpc_url, "getTokenAccountsByOwner", [owner, {"mint": str(world.mint)}, config]
    )
    by_program = result(
        net.rpc_url, "getTokenAccountsByOwner", [owner, {"programId": str(world.program)}, config]
    )

    assert by_mint["context"]["slot"] == net.chain.slot
    assert by_mint["value"] == by_program["value"]
    [keyed] = by_mint["value"]
    assert keyed["pubkey"] == str(world.alice_ata)
    account = keyed["account"]
    assert account["owner"] == str(world.program)
    assert account["rentEpoch"] == U64_MAX and account["executable"] is False
    space = 165 if world.program == TOKEN_PROGRAM else 170  # + AccountType + ImmutableOwner
    assert account["space"] == space and account["data"]["space"] == space
    assert account["data"]["program"] == PROGRAM_NAMES[world.program]
    assert account["data"]["parsed"]["type"] == "account"
    info = account["data"]["parsed"]["info"]
    extensions = info.pop("extensions", None)
    assert info == {
        "delegate": str(world.delegate),
        "delegatedAmount": _amount(100, 0.0001, "0.0001"),
        "isNative": False,
        "mint": str(world.mint),
        "owner": owner,
        "state": "initialized",
        "tokenAmount": _amount(3_750_000, 3.75, "3.75"),
    }
    if world.program == TOKEN_2022_PROGRAM:
        assert extensions == [{"extension": "immutableOwner"}]
    else:
        assert extensions is None


def test_get_token_accounts_by_owner__binary_encodings(
    net: LocalnetHandle, world: TokenWorld
) -> None:
    params = [str(world.bob), {"mint": str(world.mint)}]

    b64 = result(net.rpc_url, "getTokenAccountsByOwner", [*params, {"encoding": "base64"}])
    sliced = result(
        net.rpc_url,
        "getTokenAccountsByOwner",
        [*params, {"encoding": "base64", "dataSlice": {"offset": 32, "length": 32}}],
    )
    legacy = _error(net.rpc_url, "getTokenAccountsByOwner", params)  # default: base58

    raw = base64.b64decode(b64["value"][0]["account"]["data"][0])
    assert raw[:32] == bytes(world.mint) and raw[32:64] == bytes(world.bob)
    assert base64.b64decode(sliced["value"][0]["account"]["data"][0]) == bytes(world.bob)
    assert legacy["code"] == -32600
    assert legacy["message"].startswith("Encoded binary (base 58) data should be less than 128")


def test_get_token_accounts_by_owner__other_program_is_empty(
    net: LocalnetHandle, world: TokenWorld
) -> None:
    other = TOKEN_2022_PROGRAM if world.program == TOKEN_PROGRAM else TOKEN_PROGRAM

    value = result(
        net.rpc_url,
        "getTokenAccountsByOwner",
        [str(world.bob), {"programId": str(other)}, {"encoding": "base64"}],
    )["value"]

    assert value == []


def test_get_token_accounts_by_delegate(net: LocalnetHandle, world: TokenWorld) -> None:
    config = {"encoding": "jsonParsed"}

    by_mint = result(
        net.rpc_url,
        "getTokenAccountsByDelegate",
        [str(world.delegate), {"mint": str(world.mint)}, config],
    )["value"]
    by_program = result(
        net.rpc_url,
        "getTokenAccountsByDelegate",
        [str(world.delegate), {"programId": str(world.program)}, config],
    )["value"]
    nobody = result(
        net.rpc_url,
        "getTokenAccountsByDelegate",
        [str(world.bob), {"programId": str(world.program)}, config],
    )["value"]

    assert [k["pubkey"] for k in by_mint] == [str(world.alice_ata)]
    assert by_program == by_mint
    assert by_mint[0]["account"]["data"]["parsed"]["info"]["delegate"] == str(world.delegate)
    assert nobody == []


def test_get_program_accounts__memcmp_and_data_size(net: LocalnetHandle, world: TokenWorld) -> None:
    holders = sorted([world.alice_ata, world.bob_ata, world.carol_ata], key=bytes)
    mint_bytes = bytes(world.mint)
    by_mint = [
        {"memcmp": {"offset": 0, "bytes": b58encode(mint_bytes)}},
        {"memcmp": {"offset": 0, "bytes": b58encode(mint_bytes), "encoding": "base58"}},
        {
            "memcmp": {
                "offset": 0,
                "bytes": base64.b64encode(mint_bytes).decode(),
                "encoding": "base64",
            }
        },
    ]

    found = [
        result(
            net.rpc_url,
            "getProgramAccounts",
            [str(world.program), {"encoding": "base64", "filters": [memcmp]}],
        )
        for memcmp in by_mint
    ]
    owner_filter = {"memcmp": {"offset": 32, "bytes": b58encode(bytes(world.bob))}}
    size = 165 if world.program == TOKEN_PROGRAM else 170
    bob_only = result(
        net.rpc_url,
        "getProgramAccounts",
        [
            str(world.program),
            {"encoding": "base64", "filters": [{"dataSize": size}, owner_filter]},
        ],
    )
    wrong_size = result(
        net.rpc_url,
        "getProgramAccounts",
        [str(world.program), {"encoding": "base64", "filters": [{"dataSize": 7}, by_mint[0]]}],
    )

    for value in found:
        assert [k["pubkey"] for k in value] == [str(h) for h in holders]
    assert [k["pubkey"] for k in bob_only] == [str(world.bob_ata)]
    assert wrong_size == []


def test_get_program_accounts__encodings_slice_and_context(
    net: LocalnetHandle, world: TokenWorld
) -> None:
    filters = [{"memcmp": {"offset": 0, "bytes": b58encode(bytes(world.mint))}}]
    program = str(world.program)

    def call(config: dict) -> object:
        return result(net.rpc_url, "getProgramAccounts", [program, {"filters": filters, **config}])

    plain = call({"encoding": "base64"})
    zstd = call({"encoding": "base64+zstd"})
    sliced = call({"encoding": "base58", "dataSlice": {"offset": 64, "length": 8}})
    with_context = call({"encoding": "base64", "withContext": True, "commitment": "processed"})
    parsed = call({"encoding": "jsonParsed"})

    raw = {k["pubkey"]: base64.b64decode(k["account"]["data"][0]) for k in plain}
    for keyed in zstd:
        blob = base64.b64decode(keyed["account"]["data"][0])
        assert keyed["account"]["data"][1] == "base64+zstd"
        assert blob[:4] == b"\x28\xb5\x2f\xfd"
        decoded = zstandard.ZstdDecompressor().decompress(blob, max_output_size=1 << 20)
        assert decoded == raw[keyed["pubkey"]]
    for keyed in sliced:
        assert keyed["account"]["data"] == [b58encode(raw[keyed["pubkey"]][64:72]), "base58"]
    assert with_context["context"]["slot"] == net.chain.slot
    assert with_context["value"] == plain
    amounts = {k["pubkey"]: k["account"]["data"]["parsed"]["info"]["tokenAmount"] for k in parsed}
    assert amounts[str(world.carol_ata)] == _amount(1, 0.000001, "0.000001")
    assert len(parsed) == 3


def test_get_program_accounts__json_parsed_mints(net: LocalnetHandle, world: TokenWorld) -> None:
    config = {
        "encoding": "jsonParsed",
        "filters": [{"memcmp": {"offset": 4, "bytes": b58encode(bytes(world.authority.pubkey()))}}],
    }

    value = result(net.rpc_url, "getProgramAccounts", [str(world.program), config])

    [keyed] = value
    assert keyed["pubkey"] == str(world.mint)
    assert keyed["account"]["data"] == {
        "parsed": {
            "info": {
                "decimals": 6,
                "freezeAuthority": None,
                "isInitialized": True,
                "mintAuthority": str(world.authority.pubkey()),
                "supply": "5000001",
            },
            "type": "mint",
        },
        "program": PROGRAM_NAMES[world.program],
        "space": 82,
    }


def test_token_2022_extensions__read_back_as_json_parsed(
    net: LocalnetHandle, payer: Keypair
) -> None:
    hook_program, delegate, closer, pauser = (Keypair().pubkey() for _ in range(4))
    mint = create_mint(
        net,
        payer,
        decimals=9,
        program=TOKEN_2022_PROGRAM,
        freeze_authority=payer.pubkey(),
        extensions=[
            TransferFee(basis_points=250, maximum_fee=1_000_000),
            TransferHook(program_id=hook_program),
            PermanentDelegate(delegate=delegate),
            NonTransferable(),
            DefaultAccountState(frozen=True),
            MintCloseAuthority(authority=closer),
            Pausable(authority=pauser),
        ],
    )
    holder = create_token_account(net, payer, mint, Keypair().pubkey())

    def parsed(key: Pubkey) -> dict:
        config = {"encoding": "jsonParsed"}
        return result(net.rpc_url, "getAccountInfo", [str(key), config])["value"]

    mint_ui, holder_ui = parsed(mint), parsed(holder)

    fee = {"epoch": 0, "maximumFee": 1_000_000, "transferFeeBasisPoints": 250}
    assert mint_ui["space"] == mint_ui["data"]["space"] == 464
    assert mint_ui["data"]["program"] == "spl-token-2022"
    assert mint_ui["data"]["parsed"]["info"]["extensions"] == [
        {
            "extension": "transferFeeConfig",
            "state": {
                "newerTransferFee": fee,
                "olderTransferFee": fee,
                "transferFeeConfigAuthority": None,
                "withdrawWithheldAuthority": None,
                "withheldAmount": 0,
            },
        },
        {"extension": "transferHook", "state": {"authority": None, "programId": str(hook_program)}},
        {"extension": "permanentDelegate", "state": {"delegate": str(delegate)}},
        {"extension": "nonTransferable"},
        {"extension": "defaultAccountState", "state": {"accountState": "frozen"}},
        {"extension": "mintCloseAuthority", "state": {"closeAuthority": str(closer)}},
        {"extension": "pausableConfig", "state": {"authority": str(pauser), "paused": False}},
    ]
    info = holder_ui["data"]["parsed"]["info"]
    assert holder_ui["space"] == 195
    assert info["state"] == "frozen"  # DefaultAccountState at work
    assert info["tokenAmount"] == {
        "amount": "0",
        "decimals": 9,
        "uiAmount": 0.0,
        "uiAmountString": "0",
    }
    assert info["extensions"] == [
        {"extension": "immutableOwner"},
        {"extension": "transferFeeAmount", "state": {"withheldAmount": 0}},
        {"extension": "transferHookAccount", "state": {"transferring": False}},
        {"extension": "nonTransferableAccount"},
        {"extension": "pausableAccount"},
    ]


def test_get_account_info__json_parsed_fallback_and_rent_epoch(
    net: LocalnetHandle, payer: Keypair
) -> None:
    params = [str(payer.pubkey()), {"encoding": "jsonParsed"}]

    value = result(net.rpc_url, "getAccountInfo", params)["value"]

    assert value["data"] == ["", "base64"]  # a wallet has nothing to parse
    assert value["rentEpoch"] == U64_MAX


@pytest.mark.parametrize(
    ("method", "target", "message"),
    [
        ("getTokenAccountBalance", "wallet", "Invalid param: not a Token account"),
        ("getTokenAccountBalance", "missing", "Invalid param: could not find account"),
        ("getTokenAccountBalance", "mint", "Invalid param: not a Token account"),
        ("getTokenSupply", "wallet", "Invalid param: not a Token mint"),
        ("getTokenSupply", "missing", "Invalid param: could not find account"),
        ("getTokenSupply", "holder", "Invalid param: mint could not be unpacked"),
        ("getTokenLargestAccounts", "missing", "Invalid param: could not find mint"),
        ("getTokenLargestAccounts", "holder", "Invalid param: Token mint could not be unpacked"),
        ("getTokenSupply", "not-a-key", "Invalid param: Invalid"),
    ],
)
def test_token_reads__not_token_state_errors(
    net: LocalnetHandle, world: TokenWorld, method: str, target: str, message: str
) -> None:
    address = {
        "wallet": str(world.authority.pubkey()),
        "missing": str(Keypair().pubkey()),
        "mint": str(world.mint),
        "holder": str(world.alice_ata),
        "not-a-key": "0OIl",
    }[target]

    error = _error(net.rpc_url, method, [address])

    assert error == {"code": -32602, "message": message}


@pytest.mark.parametrize(
    ("token_filter", "message"),
    [
        (
            {"programId": "11111111111111111111111111111111"},
            "Invalid param: unrecognized Token program id",
        ),
        ({"mint": "missing"}, "Invalid param: could not find mint"),
        ({"mint": "wallet"}, "Invalid param: Token mint could not be unpacked"),
        (
            {"mint": "x", "programId": "y"},
            "Invalid params: invalid value: map, expected map with a single key.",
        ),
        (
            {"owner": "x"},
            "Invalid params: unknown variant `owner`, expected `mint` or `programId`.",
        ),
        ({"mint": 5}, "Invalid params: invalid type: integer `5`, expected a string."),
    ],
)
def test_get_token_accounts_by_owner__bad_filter(
    net: LocalnetHandle, world: TokenWorld, token_filter: dict, message: str
) -> None:
    names = {"missing": str(Keypair().pubkey()), "wallet": str(world.authority.pubkey())}
    token_filter = {
        k: names.get(v, v) if isinstance(v, str) else v for k, v in token_filter.items()
    }

    error = _error(net.rpc_url, "getTokenAccountsByOwner", [str(world.bob), token_filter])

    assert error == {"code": -32602, "message": message}


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ([{"dataSize": 165}] * 5, "Too many filters provided; max 4"),
        (
            [{"memcmp": {"offset": 0, "bytes": "l0"}}],
            "Invalid param: Base58DecodeError(InvalidCharacter { character: 'l', index: 0 })",
        ),
        ([{"memcmp": {"offset": 0, "bytes": "2" * 176}}], "Invalid param: DataTooLarge"),
        (
            [{"memcmp": {"offset": 0, "bytes": "AAAA" * 44, "encoding": "base64"}}],
            "Invalid param: DataTooLarge",
        ),
        (
            [{"memcmp": {"offset": 0, "bytes": "A*==", "encoding": "base64"}}],
            "Invalid param: Base64DecodeError(InvalidByte(1, 42))",
        ),
        (
            [{"memcmp": {"offset": 0, "bytes": "AQ", "encoding": "hex"}}],
            "Invalid params: unknown variant `hex`, expected one of `base58`, `base64`, `bytes`.",
        ),
        ([{"memcmp": {"bytes": "AQ"}}], "Invalid params: missing field `offset`."),
        (
            [{"owner": 1}],
            "Invalid params: unknown variant `owner`, expected one of "
            "`dataSize`, `memcmp`, `tokenAccountState`.",
        ),
    ],
)
def test_get_program_accounts__bad_filters(
    net: LocalnetHandle, filters: list, message: str
) -> None:
    error = _error(net.rpc_url, "getProgramAccounts", [str(TOKEN_PROGRAM), {"filters": filters}])

    assert error == {"code": -32602, "message": message}


def test_get_program_accounts__min_context_slot_not_reached(net: LocalnetHandle) -> None:
    slot = net.chain.slot

    error = _error(
        net.rpc_url,
        "getProgramAccounts",
        [str(TOKEN_PROGRAM), {"minContextSlot": slot + 100, "commitment": "processed"}],
    )

    assert error == {
        "code": -32016,
        "message": "Minimum context slot has not been reached",
        "data": {"contextSlot": slot},
    }
