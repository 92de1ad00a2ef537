"""GET /api/token/{mint}/safety against mints built by real transactions on the localnet.

Each dangerous feature is created on its own on an otherwise clean mint (mint authority
revoked after distribution, no freeze authority, 25 holders of 4% each), so any rise of
the level is that feature's doing.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from typing import Any

import pytest
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import TransferParams
from solders.system_program import transfer as sol_transfer
from spl.token.instructions import create_idempotent_associated_token_account

from apps.chain.localnet import LocalnetHandle
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
    associated_token_address,
    create_mint,
    send_instructions,
    token_program_of,
)
from apps.chain.programs.ids import WSOL_MINT
from apps.chain.programs.pump import instructions as pump_ix
from apps.chain.programs.pump import pdas as pump_pdas
from apps.chain.programs.pump.constants import (
    BUYBACK_FEE_RECIPIENTS,
    FEE_RECIPIENTS,
    INITIAL_REAL_TOKEN_RESERVES,
    LEGACY_WITHDRAW_AUTHORITY,
)
from apps.chain.programs.pump_amm import pdas as amm_pdas
from apps.chain.rpc import Endpoint
from apps.trading.services.safety import token_safety
from config.asgi import application
from tests.asgi import asgi_request
from tests.servers import free_port

SOL = 1_000_000_000
HOLDERS = 25
EACH = 1_000_000  # 25 x 1.0 token at 6 decimals: every holder owns 4%

# TokenInstruction tags and AuthorityType values (token-2022 instruction.rs)
_FREEZE_ACCOUNT = 10
_THAW_ACCOUNT = 11
_SET_AUTHORITY = 6
_MINT_TO = 7
_PAUSABLE_EXTENSION = 44
_PAUSE = 1
MINT_TOKENS = 0


# ---- real token-program transactions ------------------------------------------------


def set_authority_ix(
    program: Pubkey, mint: Pubkey, current: Pubkey, kind: int, new: Pubkey | None
) -> Instruction:
    data = bytes([_SET_AUTHORITY, kind]) + (b"\x00" if new is None else b"\x01" + bytes(new))
    return Instruction(
        program, data, [AccountMeta(mint, False, True), AccountMeta(current, True, False)]
    )


def revoke_mint_authority(net: LocalnetHandle, payer: Keypair, mint: Pubkey) -> None:
    program = token_program_of(net, mint)
    ix = set_authority_ix(program, mint, payer.pubkey(), MINT_TOKENS, None)
    send_instructions(net, payer, [ix], what="revoke mint authority")


def _account_ix(
    tag: int, program: Pubkey, account: Pubkey, mint: Pubkey, authority: Pubkey
) -> Instruction:
    return Instruction(
        program,
        bytes([tag]),
        [
            AccountMeta(account, False, True),
            AccountMeta(mint, False, False),
            AccountMeta(authority, True, False),
        ],
    )


def distribute(
    net: LocalnetHandle,
    payer: Keypair,
    mint: Pubkey,
    *,
    thaw: bool = False,
    holders: int = HOLDERS,
    each: int = EACH,
    fund: int = SOL // 100,
) -> list[Pubkey]:
    """Give `holders` wallets (holding `fund` lamports) `each` tokens (payer is the mint
    authority); returns their token accounts."""
    program = token_program_of(net, mint)
    accounts = []
    owners = [Keypair().pubkey() for _ in range(holders)]
    for start in range(0, holders, 5):
        ixs = []
        for owner in owners[start : start + 5]:
            ata = associated_token_address(owner, mint, program)
            accounts.append(ata)
            if fund:  # the sell simulation has a holder pay the fee and the buyer's rent
                ixs.append(
                    sol_transfer(
                        TransferParams(from_pubkey=payer.pubkey(), to_pubkey=owner, lamports=fund)
                    )
                )
            ixs.append(
                create_idempotent_associated_token_account(
                    payer.pubkey(), owner, mint, token_program_id=program
                )
            )
            if thaw:  # default-frozen mints: the issuer thaws its first holders
                ixs.append(_account_ix(_THAW_ACCOUNT, program, ata, mint, payer.pubkey()))
            ixs.append(
                Instruction(
                    program,
                    struct.pack("<BQ", _MINT_TO, each),
                    [
                        AccountMeta(mint, False, True),
                        AccountMeta(ata, False, True),
                        AccountMeta(payer.pubkey(), True, False),
                    ],
                )
            )
        send_instructions(net, payer, ixs, what="distribute")
    return accounts


def clean_token(
    net: LocalnetHandle,
    payer: Keypair,
    *,
    program: Pubkey = TOKEN_PROGRAM,
    extensions: tuple = (),
    freeze: bool = False,
    keep_mint_authority: bool = False,
    thaw: bool = False,
) -> Pubkey:
    mint = create_mint(
        net,
        payer,
        decimals=6,
        program=program,
        extensions=extensions,
        freeze_authority=payer.pubkey() if freeze else None,
    )
    distribute(net, payer, mint, thaw=thaw)
    if not keep_mint_authority:
        revoke_mint_authority(net, payer, mint)
    net.chain.advance_slot()
    return mint


async def report(net: LocalnetHandle, mint: Pubkey, *, use_cache: bool = False) -> dict[str, Any]:
    result = await token_safety(mint=str(mint), rpc=Endpoint(net.rpc_url), use_cache=use_cache)
    return result.__dict__


def check(result: dict[str, Any], check_id: str) -> dict[str, Any]:
    found = [c for c in result["checks"] if c["id"] == check_id]
    assert len(found) == 1, [c["id"] for c in result["checks"]]
    return found[0]


# ---- a clean mint -------------------------------------------------------------------


async def test_clean_mint__no_authorities_spread_holders__safe_and_sellable(net, payer):
    mint = clean_token(net, payer)

    result = await report(net, mint)

    assert (result["level"], result["honeypot"]) == ("safe", False), result["checks"]
    assert result["risk_score"] < 20
    assert check(result, "mint_authority")["status"] == "ok"
    assert check(result, "freeze_authority")["evidence"] == {"authority": None}
    supply = check(result, "supply")["evidence"]
    assert (supply["supply"], supply["decimals"], supply["ui_supply"]) == ("25000000", 6, "25")
    holders = check(result, "holder_concentration")
    assert holders["status"] == "ok"
    assert (holders["evidence"]["top10_pct"], holders["evidence"]["largest_holder_pct"]) == (40, 4)
    sell = check(result, "sell_simulation")
    assert sell["status"] == "ok", sell
    assert sell["evidence"]["received"] == str(EACH)


# ---- each dangerous feature on its own ------------------------------------------------

HOOK_PROGRAM = Pubkey.from_string("HookNoProgram1111111111111111111111111111111")


def _kept_mint_authority(net, payer):
    return clean_token(net, payer, keep_mint_authority=True)


def _kept_freeze_authority(net, payer):
    return clean_token(net, payer, freeze=True)


def _fee_100(net, payer):
    return clean_token(
        net,
        payer,
        program=TOKEN_2022_PROGRAM,
        extensions=(TransferFee(basis_points=10_000, maximum_fee=2**64 - 1),),
    )


def _fee_5(net, payer):
    return clean_token(
        net,
        payer,
        program=TOKEN_2022_PROGRAM,
        extensions=(TransferFee(basis_points=500, maximum_fee=10**12),),
    )


def _hook(net, payer):
    return clean_token(
        net, payer, program=TOKEN_2022_PROGRAM, extensions=(TransferHook(program_id=HOOK_PROGRAM),)
    )


def _permanent_delegate(net, payer):
    return clean_token(
        net,
        payer,
        program=TOKEN_2022_PROGRAM,
        extensions=(PermanentDelegate(delegate=payer.pubkey()),),
    )


def _default_frozen(net, payer):
    return clean_token(
        net,
        payer,
        program=TOKEN_2022_PROGRAM,
        freeze=True,
        thaw=True,
        extensions=(DefaultAccountState(frozen=True),),
    )


def _non_transferable(net, payer):
    return clean_token(net, payer, program=TOKEN_2022_PROGRAM, extensions=(NonTransferable(),))


def _pausable(net, payer):
    return clean_token(
        net, payer, program=TOKEN_2022_PROGRAM, extensions=(Pausable(authority=payer.pubkey()),)
    )


def _paused(net, payer):
    mint = _pausable(net, payer)
    pause = Instruction(
        TOKEN_2022_PROGRAM,
        bytes([_PAUSABLE_EXTENSION, _PAUSE]),
        [AccountMeta(mint, False, True), AccountMeta(payer.pubkey(), True, False)],
    )
    send_instructions(net, payer, [pause], what="pause")
    return mint


def _close_authority(net, payer):
    return clean_token(
        net,
        payer,
        program=TOKEN_2022_PROGRAM,
        extensions=(MintCloseAuthority(authority=payer.pubkey()),),
    )


# (builder, check id, its status, evidence subset (payer key as "<payer>"), level, honeypot)
CASES: dict[str, tuple[Callable, str, str, dict[str, Any], str, bool]] = {
    "mint_authority": (
        _kept_mint_authority,
        "mint_authority",
        "danger",
        {"authority": "<payer>"},
        "caution",
        False,
    ),
    "freeze_authority": (
        _kept_freeze_authority,
        "freeze_authority",
        "danger",
        {"authority": "<payer>"},
        "caution",
        False,
    ),
    "transfer_fee_100": (
        _fee_100,
        "transfer_fee",
        "danger",
        {"basis_points": 10_000, "percent": 100.0, "maximum_fee": str(2**64 - 1)},
        "danger",
        True,
    ),
    "transfer_fee_5": (
        _fee_5,
        "transfer_fee",
        "warn",
        {"basis_points": 500, "maximum_fee": str(10**12)},
        "safe",
        False,
    ),
    "transfer_hook": (
        _hook,
        "transfer_hook",
        "danger",
        {"program_id": str(HOOK_PROGRAM), "exists": False},
        "danger",
        True,
    ),
    "permanent_delegate": (
        _permanent_delegate,
        "permanent_delegate",
        "danger",
        {"delegate": "<payer>"},
        "danger",
        False,
    ),
    "default_frozen": (
        _default_frozen,
        "default_account_state",
        "danger",
        {"state": "frozen", "freeze_authority": "<payer>"},
        "danger",
        True,
    ),
    "non_transferable": (
        _non_transferable,
        "non_transferable",
        "danger",
        {"non_transferable": True},
        "danger",
        True,
    ),
    "pausable": (
        _pausable,
        "pausable",
        "danger",
        {"authority": "<payer>", "paused": False},
        "caution",
        False,
    ),
    "paused": (
        _paused,
        "pausable",
        "danger",
        {"authority": "<payer>", "paused": True},
        "danger",
        True,
    ),
    "mint_close_authority": (
        _close_authority,
        "mint_close_authority",
        "warn",
        {"authority": "<payer>"},
        "safe",
        False,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_dangerous_feature__reported_with_evidence__raises_risk(net, payer, case):
    build, check_id, status, evidence, level, honeypot = CASES[case]
    mint = build(net, payer)

    result = await report(net, mint)

    found = check(result, check_id)
    assert found["status"] == status, found
    want = {k: str(payer.pubkey()) if v == "<payer>" else v for k, v in evidence.items()}
    assert {k: found["evidence"].get(k) for k in want} == want
    assert (result["level"], result["honeypot"]) == (level, honeypot), result["checks"]
    assert result["risk_score"] >= 10  # every feature adds points to a clean mint's 0
    sell = check(result, "sell_simulation")
    assert (sell["status"] == "danger") == honeypot, sell


async def test_sell_simulation__names_why_holders_cannot_sell(net, payer):
    reasons = {}
    for case in (
        "default_frozen",
        "non_transferable",
        "paused",
        "transfer_fee_100",
        "transfer_hook",
    ):
        result = await report(net, CASES[case][0](net, payer))
        sell = check(result, "sell_simulation")
        reasons[case] = sell["evidence"].get("reason") or sell["evidence"].get("received")
    assert reasons == {
        "default_frozen": "account_frozen",
        "non_transferable": "non_transferable",
        "paused": "paused",
        "transfer_fee_100": "0",  # the transfer lands; the buyer receives nothing
        "transfer_hook": "hook_program_missing",
    }


async def test_every_holder_frozen__honeypot(net, payer):
    mint = create_mint(net, payer, decimals=6, freeze_authority=payer.pubkey())
    accounts = distribute(net, payer, mint)
    revoke_mint_authority(net, payer, mint)
    for start in range(0, len(accounts), 8):
        send_instructions(
            net,
            payer,
            [
                _account_ix(_FREEZE_ACCOUNT, TOKEN_PROGRAM, a, mint, payer.pubkey())
                for a in accounts[start : start + 8]
            ],
            what="freeze",
        )

    result = await report(net, mint)

    sell = check(result, "sell_simulation")
    assert (sell["status"], result["honeypot"], result["risk_score"]) == ("danger", True, 100)
    assert len(sell["evidence"]["frozen_holders"]) == 20  # all of getTokenLargestAccounts


async def test_sell_simulation__holders_without_sol__inconclusive_not_honeypot(net, payer):
    mint = create_mint(net, payer, decimals=6)
    distribute(net, payer, mint, fund=0)
    revoke_mint_authority(net, payer, mint)

    result = await report(net, mint)

    sell = check(result, "sell_simulation")
    assert (sell["status"], result["honeypot"], result["level"]) == ("warn", False, "safe")
    attempts = sell["evidence"]["attempts"]
    assert len(attempts) == 2 and all(a["reason"] == "not_executed" for a in attempts), attempts


# ---- pump.fun -----------------------------------------------------------------------


def launch_pump_coin(net: LocalnetHandle, creator: Keypair) -> Pubkey:
    mint = Keypair()
    create = pump_ix.create(
        mint=mint.pubkey(),
        user=creator.pubkey(),
        creator=creator.pubkey(),
        name="Safe Dog",
        symbol="SDOG",
        uri="https://example.invalid/sdog.json",
    )
    send_instructions(net, creator, [create], signers=[mint], what="create")
    return mint.pubkey()


def pump_buy(net, trader: Keypair, mint: Pubkey, creator: Pubkey, amount: int, max_sol: int):
    ata = create_idempotent_associated_token_account(trader.pubkey(), trader.pubkey(), mint)
    buy = pump_ix.buy(
        user=trader.pubkey(),
        mint=mint,
        creator=creator,
        fee_recipient=FEE_RECIPIENTS[0],
        buyback_fee_recipient=BUYBACK_FEE_RECIPIENTS[0],
        amount=amount,
        max_sol_cost=max_sol,
    )
    send_instructions(net, trader, [ata, buy], what="buy")


async def test_pump_coin__curve_state_and_vault_set_apart(net, payer):
    mint = launch_pump_coin(net, payer)
    trader = Keypair()
    net.chain.airdrop(trader.pubkey(), 2 * SOL)
    pump_buy(net, trader, mint, payer.pubkey(), 20_000_000_000_000, SOL)  # 2% of 1e15
    net.chain.advance_slot()

    result = await report(net, mint)

    curve = check(result, "pump_curve")
    assert curve["status"] == "ok"
    assert curve["evidence"]["bonding_curve"] == str(pump_pdas.bonding_curve_pda(mint))
    assert (curve["evidence"]["complete"], curve["evidence"]["migrated"]) == (False, False)
    assert 2.5 < curve["evidence"]["progress_pct"] < 2.6  # 2e13 of 7.931e14 sellable sold
    holders = check(result, "holder_concentration")["evidence"]
    vault = str(pump_pdas.associated_bonding_curve(mint))
    assert [(v["address"], v["kind"]) for v in holders["vaults"]] == [(vault, "pump_bonding_curve")]
    assert vault not in {h["address"] for h in holders["holders"]}
    assert holders["holders"][0]["owner"] == str(trader.pubkey())
    assert holders["top10_pct"] == 2.0
    assert check(result, "mint_authority")["status"] == "ok"  # pump revokes it at create
    assert check(result, "sell_simulation")["status"] == "ok"
    assert (result["level"], result["honeypot"]) == ("safe", False)


async def test_pump_coin__migrated__pool_vault_set_apart(net, payer):
    mint = launch_pump_coin(net, payer)
    whale = Keypair()
    net.chain.airdrop(whale.pubkey(), 200 * SOL)
    pump_buy(net, whale, mint, payer.pubkey(), INITIAL_REAL_TOKEN_RESERVES, 150 * SOL)
    send_instructions(
        net,
        payer,
        [
            pump_ix.migrate(
                user=payer.pubkey(), mint=mint, withdraw_authority=LEGACY_WITHDRAW_AUTHORITY
            )
        ],
        what="migrate",
    )
    net.chain.advance_slot()

    result = await report(net, mint)

    pool = amm_pdas.canonical_pool_pda(mint, WSOL_MINT)
    curve = check(result, "pump_curve")["evidence"]
    assert (curve["complete"], curve["progress_pct"], curve["migrated"]) == (True, 100.0, True)
    assert curve["pool"] == str(pool)
    holders = check(result, "holder_concentration")
    assert [(v["owner"], v["kind"]) for v in holders["evidence"]["vaults"]] == [
        (str(pool), "pumpswap_pool")
    ]
    # The whale owns the 79.31% the curve sold: concentration is flagged, the pool is not.
    assert holders["evidence"]["holders"][0]["owner"] == str(whale.pubkey())
    assert (holders["status"], holders["evidence"]["top10_pct"]) == ("danger", 79.31)


# ---- cache: a changed mint is checked afresh ------------------------------------------


async def test_cache__revoking_mint_authority_flips_the_check(net, payer):
    mint = clean_token(net, payer, keep_mint_authority=True)

    first = await report(net, mint, use_cache=True)
    again = await report(net, mint, use_cache=True)
    revoke_mint_authority(net, payer, mint)
    net.chain.advance_slot()
    after = await report(net, mint, use_cache=True)

    assert (first["cached"], again["cached"], after["cached"]) == (False, True, False)
    assert again["checked_at"] == first["checked_at"]
    assert check(first, "mint_authority")["status"] == "danger"
    assert check(after, "mint_authority")["status"] == "ok"
    assert after["fingerprint"] != first["fingerprint"]
    assert after["level"] == "safe" and first["level"] == "caution"


# ---- the HTTP endpoint --------------------------------------------------------------


async def get(path: str):
    return await asgi_request(application, "GET", path)


async def test_api__report_shape(net, payer, platform_rpc):
    mint = clean_token(net, payer)

    response = await get(f"/api/token/{mint}/safety")

    assert response.status == 200, response.body
    body = response.json()
    assert (body["mint"], body["level"], body["honeypot"], body["cached"]) == (
        str(mint),
        "safe",
        False,
        False,
    )
    assert body["token_program"] == str(TOKEN_PROGRAM)
    assert {c["id"] for c in body["checks"]} >= {
        "mint_authority",
        "freeze_authority",
        "supply",
        "holder_concentration",
        "sell_simulation",
    }
    assert all(set(c) == {"id", "status", "message", "evidence"} for c in body["checks"])
    assert (await get(f"/api/token/{mint}/safety")).json()["cached"] is True


@pytest.mark.parametrize("bad", ["not-base58!", "1" * 31, "4" * 45, "3yZe7d" * 3])
async def test_api__malformed_mint__422_naming_mint_without_rpc(settings, bad):
    settings.SOLANA_RPC_URLS = [f"http://127.0.0.1:{free_port()}"]  # any RPC call would 503

    response = await get(f"/api/token/{bad}/safety")

    assert response.status == 422, response.body
    assert response.json()["error"]["field"] == "mint"


async def test_api__not_a_mint__422_and_missing__404(net, payer, platform_rpc):
    mint = create_mint(net, payer, decimals=6)
    token_account = distribute(net, payer, mint, holders=1)[0]

    for not_a_mint in (payer.pubkey(), token_account):  # a wallet, a token account
        response = await get(f"/api/token/{not_a_mint}/safety")
        assert response.status == 422, response.body
        error = response.json()["error"]
        assert (error["code"], error["field"]) == ("not_a_mint", "mint")
        assert "is not a token mint" in error["message"]
    missing = await get(f"/api/token/{Keypair().pubkey()}/safety")
    assert missing.status == 404, missing.body
    assert missing.json()["error"]["code"] == "mint_not_found"


async def test_api__upstream_down__503_quickly(settings):
    settings.SOLANA_RPC_URLS = [f"http://127.0.0.1:{free_port()}"]
    started = time.monotonic()

    response = await get(f"/api/token/{Keypair().pubkey()}/safety")

    assert response.status == 503, response.body
    assert response.json()["error"]["code"] == "upstream_unavailable"
    assert time.monotonic() - started < 2
