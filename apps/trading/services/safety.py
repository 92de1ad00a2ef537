"""Token safety: honeypot and rug detection for an SPL or Token-2022 mint.

    report = await token_safety(mint="...", rpc=rpc_pool())

Reads the mint (one getAccountInfo), then in parallel its largest holders, the pump.fun
curve and PumpSwap pool PDAs, the transfer-hook program and the epoch; then the holders'
owners; then simulates a holder selling (safety_sell.py). The checks and the score are
pure functions in safety_checks.py.

Caching: a report is stored in the Django cache under the mint's address plus a hash of
the mint account's owner and data, so a changed mint (authority revoked, fee raised,
paused, supply minted) misses the cache and is checked afresh, while an unchanged mint is
answered from one cheap getAccountInfo (itself shared for ~a slot by the RPC pool).
Holders and curves move without the mint changing, so entries also expire after
REPORT_TTL seconds.

Errors: no account at the address is `MintNotFound` (404); an account that is not an
initialized mint of a token program is `NotAMint` (422 naming `mint`). RPC failures
propagate (RpcUnavailable → 503); a node refusing one of the optional reads (some
providers limit getTokenLargestAccounts) degrades that check to a warning instead.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from solders.pubkey import Pubkey

from apps.chain.programs.ids import (
    PUMP_AMM_PROGRAM_ID,
    PUMP_PROGRAM_ID,
    SYSTEM_PROGRAM_ID,
    WSOL_MINT,
)
from apps.chain.programs.pump import pdas as pump_pdas
from apps.chain.programs.pump.accounts import BondingCurve, decode_bonding_curve
from apps.chain.programs.pump_amm import pdas as amm_pdas
from apps.chain.programs.pump_amm.accounts import Pool, decode_pool
from apps.chain.rpc import RpcClient, RpcError
from apps.chain.rpc_pool import RpcPool
from apps.chain.tokens import (
    TOKEN_PROGRAMS,
    MintExtensions,
    MintState,
    mint_extensions,
    unpack_mint,
    unpack_token_account,
)
from config.api_errors import ApiError

from . import safety_checks as checks
from .safety_extensions import extension_checks
from .safety_sell import sell_check

COMMITMENT = "confirmed"
MINT_READ_TTL = 0.4  # one slot: repeats within it share the pool's answer
REPORT_TTL = 30  # seconds; bounds how stale holders and curve state can be
CACHE_VERSION = 1


class MintNotFound(ApiError):
    status = 404
    code = "mint_not_found"


class NotAMint(ApiError):
    status = 422
    code = "not_a_mint"


@dataclass(frozen=True)
class SafetyReport:
    mint: str
    token_program: str
    decimals: int
    supply: str
    risk_score: int
    level: str
    honeypot: bool
    checks: list[dict[str, Any]]
    slot: int | None
    fingerprint: str
    checked_at: float
    cached: bool = False


# ---- reads --------------------------------------------------------------------------


async def _call(rpc: RpcClient, method: str, params: list[Any], *, cache_ttl: float = 0.0) -> Any:
    # The pool shares identical reads within cache_ttl; a bare Endpoint has no cache.
    if cache_ttl and _accepts_cache_ttl(rpc):
        return await rpc.call(method, params, cache_ttl=cache_ttl)  # type: ignore[call-arg]
    return await rpc.call(method, params)


def _accepts_cache_ttl(rpc: RpcClient) -> bool:
    return isinstance(rpc, RpcPool)


def _data(account: dict[str, Any] | None) -> bytes | None:
    if not account:
        return None
    data = account.get("data")
    return base64.b64decode(data[0]) if isinstance(data, list) and data else None


async def _multiple(rpc: RpcClient, keys: list[Pubkey]) -> list[dict[str, Any] | None]:
    if not keys:
        return []
    result = await rpc.call(
        "getMultipleAccounts",
        [[str(k) for k in keys], {"encoding": "base64", "commitment": COMMITMENT}],
    )
    return list((result or {}).get("value") or [None] * len(keys))


def fingerprint(owner: str, data: bytes) -> str:
    """Hash of what defines a mint's safety: its owner program and its bytes (not lamports,
    not rent epoch, not the slot)."""
    return hashlib.sha256(owner.encode() + b"\0" + data).hexdigest()[:32]


async def read_mint(rpc: RpcClient, mint: Pubkey) -> tuple[Pubkey, bytes, MintState, int | None]:
    """(token program, raw data, decoded mint, context slot); MintNotFound / NotAMint."""
    result = await _call(
        rpc,
        "getAccountInfo",
        [str(mint), {"encoding": "base64", "commitment": COMMITMENT}],
        cache_ttl=MINT_READ_TTL,
    )
    value = (result or {}).get("value")
    slot = ((result or {}).get("context") or {}).get("slot")
    if value is None:
        raise MintNotFound(f"no account exists at {mint}", field="mint")
    owner = Pubkey.from_string(value["owner"])
    data = _data(value) or b""
    state = unpack_mint(data) if owner in TOKEN_PROGRAMS else None
    if state is None:
        raise NotAMint(
            f"{mint} is not a token mint (account owned by {owner}, {len(data)} bytes)",
            field="mint",
        )
    return owner, data, state, slot


async def _largest_accounts(rpc: RpcClient, mint: Pubkey) -> list[tuple[Pubkey, int]]:
    result = await rpc.call("getTokenLargestAccounts", [str(mint), {"commitment": COMMITMENT}])
    return [
        (Pubkey.from_string(item["address"]), int(item["amount"]))
        for item in (result or {}).get("value") or []
    ]


async def _epoch(rpc: RpcClient) -> int:
    result = await _call(rpc, "getEpochInfo", [{"commitment": COMMITMENT}], cache_ttl=1.0)
    return int(result["epoch"])


# ---- pump.fun -----------------------------------------------------------------------


@dataclass(frozen=True)
class PumpState:
    curve_address: Pubkey
    curve: BondingCurve | None
    pool_address: Pubkey
    pool: Pool | None


def _decode_curve(account: dict[str, Any] | None) -> BondingCurve | None:
    if not account or account.get("owner") != str(PUMP_PROGRAM_ID):
        return None
    try:
        return decode_bonding_curve(_data(account) or b"")
    except ValueError:
        return None


def _decode_pool(account: dict[str, Any] | None) -> Pool | None:
    if not account or account.get("owner") != str(PUMP_AMM_PROGRAM_ID):
        return None
    try:
        return decode_pool(_data(account) or b"")
    except ValueError:
        return None


def _vault_kind(
    address: Pubkey,
    owner: Pubkey | None,
    owner_program: str | None,
    *,
    mint: Pubkey,
    program: Pubkey,
    pump: PumpState,
) -> str | None:
    curve_pda = pump.curve_address
    if address == pump_pdas.associated_bonding_curve(mint, program) or owner == curve_pda:
        return "pump_bonding_curve"
    if pump.pool is not None and address == pump.pool.pool_base_token_account:
        return "pumpswap_pool"
    if owner == pump.pool_address or owner_program == str(PUMP_AMM_PROGRAM_ID):
        return "pumpswap_pool"
    if owner_program == str(PUMP_PROGRAM_ID):
        return "pump_bonding_curve"
    return None


async def _holders(
    rpc: RpcClient,
    largest: list[tuple[Pubkey, int]],
    *,
    mint: Pubkey,
    program: Pubkey,
    pump: PumpState,
) -> list[checks.Holder]:
    """The largest accounts with their owners, frozen flags and vault labels."""
    token_accounts = await _multiple(rpc, [address for address, _ in largest])
    states = [unpack_token_account(_data(a) or b"") if a else None for a in token_accounts]
    owners = sorted({s.owner for s in states if s is not None}, key=str)
    owner_accounts = dict(zip(owners, await _multiple(rpc, owners), strict=True))
    holders = []
    for (address, amount), state in zip(largest, states, strict=True):
        owner = state.owner if state is not None else None
        owner_account = owner_accounts.get(owner) if owner is not None else None
        owner_program = owner_account.get("owner") if owner_account else None
        holders.append(
            checks.Holder(
                address=address,
                owner=owner,
                amount=state.amount if state is not None else amount,
                frozen=state.is_frozen if state is not None else False,
                vault=_vault_kind(
                    address, owner, owner_program, mint=mint, program=program, pump=pump
                ),
                owner_is_wallet=owner_program == str(SYSTEM_PROGRAM_ID),
                owner_lamports=int(owner_account.get("lamports", 0)) if owner_account else 0,
            )
        )
    return holders


# ---- the report ---------------------------------------------------------------------


def _cache_key(mint: Pubkey, fp: str) -> str:
    return f"trading:safety:v{CACHE_VERSION}:{mint}:{fp}"


async def token_safety(*, mint: str, rpc: RpcClient, use_cache: bool = True) -> SafetyReport:
    """The safety report of `mint` (a validated base58 pubkey)."""
    try:
        mint_key = Pubkey.from_string(mint)
    except ValueError:
        raise ApiError("mint is not base58 of 32 bytes", field="mint", status=422) from None
    program, data, state, slot = await read_mint(rpc, mint_key)
    fp = fingerprint(str(program), data)
    key = _cache_key(mint_key, fp)
    if use_cache:
        hit = await cache.aget(key)
        if hit is not None:
            return SafetyReport(**(hit | {"cached": True}))
    report = await _build_report(rpc, mint_key, program, state, slot, fp)
    if use_cache:
        await cache.aset(key, report.__dict__ | {"cached": False}, REPORT_TTL)
    return report


async def _optional(coro: Any) -> tuple[Any, str | None]:
    """(result, None) or (None, why) when the node refused an optional read."""
    try:
        return await coro, None
    except RpcError as exc:
        return None, f"{exc.code}: {exc.message}"


async def _build_report(
    rpc: RpcClient,
    mint: Pubkey,
    program: Pubkey,
    state: MintState,
    slot: int | None,
    fp: str,
) -> SafetyReport:
    ext: MintExtensions = mint_extensions(state)
    hook = ext.transfer_hook.program_id if ext.transfer_hook else None
    curve_address = pump_pdas.bonding_curve_pda(mint)
    # A migrated coin's pool pairs it with its curve's quote mint (SOL-paired: wSOL); the
    # quote is only known once the curve is read, so SOL is assumed for the first lookup.
    pool_address = amm_pdas.canonical_pool_pda(mint, WSOL_MINT)
    extra = [curve_address, pool_address] + ([hook] if hook else [])

    (largest, largest_err), (accounts, accounts_err), epoch = await asyncio.gather(
        _optional(_largest_accounts(rpc, mint)),
        _optional(_multiple(rpc, extra)),
        _epoch(rpc) if ext.transfer_fee is not None else _zero(),
    )
    accounts = accounts or [None] * len(extra)
    curve = _decode_curve(accounts[0])
    if curve is not None and not curve.is_sol_paired:
        pool_address = amm_pdas.canonical_pool_pda(mint, curve.quote_mint)
        accounts[1] = (await _multiple(rpc, [pool_address]))[0]
    pump = PumpState(curve_address, curve, pool_address, _decode_pool(accounts[1]))
    hook_account = None  # unknown: the check then cannot call the program missing
    if hook is not None and accounts_err is None:
        found = accounts[2]
        hook_account = {
            "exists": found is not None,
            "executable": bool(found and found.get("executable")),
        }

    found_checks = [
        checks.mint_authority_check(state),
        checks.freeze_authority_check(state),
        checks.supply_check(state, program, ext),
        *extension_checks(ext, state, epoch=epoch, hook_program_account=hook_account),
    ]
    holders: list[checks.Holder] = []
    if largest is None:
        found_checks.append(checks.holders_unavailable_check(largest_err or "no answer"))
    else:
        holders = await _holders(rpc, largest, mint=mint, program=program, pump=pump)
        found_checks.append(checks.holder_concentration_check(holders, state))
    if curve is not None:
        found_checks.append(
            checks.bonding_curve_check(
                curve, address=curve_address, pool=pool_address, pool_exists=pump.pool is not None
            )
        )
    found_checks.append(
        await sell_check(
            rpc=rpc,
            mint=mint,
            program=program,
            decimals=state.decimals,
            holders=holders,
            extensions=ext,
            hook_program_live=bool(hook_account and hook_account["executable"]),
        )
    )
    risk, level, honeypot = checks.score(found_checks)
    return SafetyReport(
        mint=str(mint),
        token_program=str(program),
        decimals=state.decimals,
        supply=str(state.supply),
        risk_score=risk,
        level=level,
        honeypot=honeypot,
        checks=[c.public() for c in found_checks],
        slot=slot,
        fingerprint=fp,
        checked_at=time.time(),
    )


async def _zero() -> int:
    return 0
