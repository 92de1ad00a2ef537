"""GET /api/account/{pubkey}/balance and /tokens against real accounts on the localnet."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from apps.chain.localnet import LocalnetHandle
from apps.chain.localnet.fixtures import (
    TOKEN_2022_PROGRAM,
    TOKEN_PROGRAM,
    DefaultAccountState,
    airdrop,
    create_mint,
    create_token_account,
    mint_to,
    send_instructions,
)
from config.asgi import application
from tests.asgi import asgi_request
from tests.servers import free_port

_FREEZE_ACCOUNT = 10  # TokenInstruction::FreezeAccount


async def get(path: str, query: str = ""):
    return await asgi_request(application, "GET", path, query_string=query.encode())


@pytest.fixture
def dead_upstream(settings) -> str:
    """An RPC URL nothing listens on: any RPC call would fail with 503."""
    url = f"http://127.0.0.1:{free_port()}"
    settings.SOLANA_RPC_URLS = [url]
    return url


@pytest.fixture
def silent_upstream(settings) -> Iterator[str]:
    """A TCP port that accepts connections and never answers (a hung node)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings.SOLANA_RPC_URLS = [url]
    settings.SOLANA_RPC_TIMEOUT = 0.3
    try:
        yield url
    finally:
        sock.close()


# ---- balance ----------------------------------------------------------------------------


async def test_balance__airdropped_account__exact_lamports_and_sol_at_confirmed_slot(
    net: LocalnetHandle, platform_rpc
):
    owner = Keypair().pubkey()
    airdrop(net, owner, 1_234_567_891)
    net.chain.advance_slot()

    response = await get(f"/api/account/{owner}/balance")

    assert response.status == 200, response.body
    assert response.json() == {
        "pubkey": str(owner),
        "lamports": 1_234_567_891,
        "sol": "1.234567891",
        "slot": net.chain.commitment_slot("confirmed"),
    }


async def test_balance__commitment_processed__reads_the_processed_slot(
    net: LocalnetHandle, platform_rpc
):
    owner = Keypair().pubkey()
    airdrop(net, owner, 3 * 10**9)
    net.chain.advance_slot()

    response = await get(f"/api/account/{owner}/balance", "commitment=processed")

    assert response.status == 200, response.body
    body = response.json()
    assert (body["lamports"], body["sol"]) == (3 * 10**9, "3")
    assert body["slot"] == net.chain.slot


async def test_balance__unknown_account__zero(net: LocalnetHandle, platform_rpc):
    owner = Keypair().pubkey()

    response = await get(f"/api/account/{owner}/balance")

    assert response.status == 200, response.body
    assert (response.json()["lamports"], response.json()["sol"]) == (0, "0")


# ---- tokens -----------------------------------------------------------------------------


@pytest.fixture
def wallet(net: LocalnetHandle, payer: Keypair) -> dict:
    """A wallet holding SPL and Token-2022 balances, an empty account and two frozen ones."""
    owner = Keypair()
    freezer = Keypair()
    spl = create_mint(net, payer, decimals=6)
    spl_account = create_token_account(net, payer, spl, owner.pubkey())
    mint_to(net, payer, spl, spl_account, 1_500_000)

    t22 = create_mint(net, payer, decimals=9, program=TOKEN_2022_PROGRAM)
    t22_account = create_token_account(net, payer, t22, owner.pubkey())
    mint_to(net, payer, t22, t22_account, 123)

    empty = create_mint(net, payer, decimals=2)
    empty_account = create_token_account(net, payer, empty, owner.pubkey())

    # Frozen by a FreezeAccount transaction after it was funded.
    frozen = create_mint(net, payer, decimals=0, freeze_authority=freezer.pubkey())
    frozen_account = create_token_account(net, payer, frozen, owner.pubkey())
    mint_to(net, payer, frozen, frozen_account, 42)
    freeze = Instruction(
        TOKEN_PROGRAM,
        bytes([_FREEZE_ACCOUNT]),
        [
            AccountMeta(frozen_account, False, True),
            AccountMeta(frozen, False, False),
            AccountMeta(freezer.pubkey(), True, False),
        ],
    )
    send_instructions(net, payer, [freeze], signers=[freezer], what="freeze")

    # Frozen from birth by the mint's DefaultAccountState extension (so it stays empty).
    born_frozen = create_mint(
        net,
        payer,
        decimals=4,
        program=TOKEN_2022_PROGRAM,
        freeze_authority=freezer.pubkey(),
        extensions=[DefaultAccountState(frozen=True)],
    )
    born_frozen_account = create_token_account(net, payer, born_frozen, owner.pubkey())
    net.chain.advance_slot()

    def entry(account, mint, amount, decimals, ui, program, frozen):
        return {
            "account": str(account),
            "mint": str(mint),
            "amount": amount,
            "decimals": decimals,
            "ui_amount": ui,
            "program": program,
            "frozen": frozen,
        }

    held = [
        entry(spl_account, spl, "1500000", 6, "1.5", "spl-token", False),
        entry(t22_account, t22, "123", 9, "0.000000123", "spl-token-2022", False),
        entry(frozen_account, frozen, "42", 0, "42", "spl-token", True),
    ]
    empties = [
        entry(empty_account, empty, "0", 2, "0", "spl-token", False),
        entry(born_frozen_account, born_frozen, "0", 4, "0", "spl-token-2022", True),
    ]
    return {"owner": owner.pubkey(), "held": held, "empties": empties}


def by_mint(entries: list[dict]) -> list[dict]:
    return sorted(entries, key=lambda e: (e["mint"], e["program"], e["account"]))


async def test_tokens__both_programs__exact_amounts_sorted_and_frozen_flagged(
    net: LocalnetHandle, platform_rpc, wallet
):
    response = await get(f"/api/account/{wallet['owner']}/tokens")

    assert response.status == 200, response.body
    assert response.json() == {
        "owner": str(wallet["owner"]),
        "slot": net.chain.commitment_slot("confirmed"),
        "accounts": by_mint(wallet["held"]),
    }


async def test_tokens__include_zero__lists_empty_accounts_too(
    net: LocalnetHandle, platform_rpc, wallet
):
    response = await get(f"/api/account/{wallet['owner']}/tokens", "include_zero=true")

    assert response.status == 200, response.body
    assert response.json()["accounts"] == by_mint(wallet["held"] + wallet["empties"])


async def test_tokens__wallet_without_tokens__empty_list(net: LocalnetHandle, platform_rpc):
    response = await get(f"/api/account/{Keypair().pubkey()}/tokens")

    assert response.status == 200, response.body
    assert response.json()["accounts"] == []


# ---- bad input: 422 before any RPC call (the upstream is dead) --------------------------

BAD_PUBKEYS = {
    "too_short": "abc",
    "not_base58": "0OIl" + "1" * 40,
    "too_long": "z" * 45,
    "decodes_past_32_bytes": "z" * 44,
}


@pytest.mark.parametrize("endpoint", ["balance", "tokens"])
@pytest.mark.parametrize("kind", sorted(BAD_PUBKEYS))
async def test_bad_pubkey__422_naming_pubkey_without_calling_upstream(
    dead_upstream, endpoint, kind
):
    response = await get(f"/api/account/{BAD_PUBKEYS[kind]}/{endpoint}")

    assert response.status == 422, response.body
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("validation_error", "pubkey")


@pytest.mark.parametrize(
    ("endpoint", "query", "field"),
    [
        ("balance", "verbose=1", "verbose"),
        ("balance", "commitment=recent", "commitment"),
        ("tokens", "include_zero=maybe", "include_zero"),
        ("tokens", "include_zero=true&limit=5", "limit"),
    ],
)
async def test_bad_query__422_naming_the_field(dead_upstream, endpoint, query, field):
    owner = Keypair().pubkey()

    response = await get(f"/api/account/{owner}/{endpoint}", query)

    assert response.status == 422, response.body
    assert response.json()["error"]["field"] == field


def test_pubkey_validator__accepts_every_32_byte_key():
    from apps.trading.api.types import check_pubkey

    for key in [Pubkey.default(), Pubkey.from_bytes(b"\xff" * 32), Keypair().pubkey()]:
        assert check_pubkey(str(key)) == str(key)


# ---- upstream down: 503 fast, never 500, never a hang -----------------------------------


@pytest.mark.parametrize("endpoint", ["balance", "tokens"])
async def test_upstream_refusing__503_at_once(dead_upstream, endpoint):
    started = time.monotonic()

    response = await get(f"/api/account/{Keypair().pubkey()}/{endpoint}")

    assert response.status == 503, response.body
    assert response.json()["error"]["code"] == "upstream_unavailable"
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("endpoint", ["balance", "tokens"])
async def test_upstream_hung__503_after_the_timeout(silent_upstream, endpoint):
    started = time.monotonic()

    response = await get(f"/api/account/{Keypair().pubkey()}/{endpoint}")

    elapsed = time.monotonic() - started
    assert response.status == 503, response.body
    assert response.json()["error"]["code"] == "upstream_unavailable"
    assert 0.25 < elapsed < 1.5
