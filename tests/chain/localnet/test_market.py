"""The self-trading market: deterministic for a seed; what it reports is what the chain holds."""

from __future__ import annotations

import asyncio
import base64

import pytest
from solders.pubkey import Pubkey

from apps.chain.localnet import start_localnet_in_thread
from apps.chain.localnet.market import MarketConfig, MarketGenerator, MarketLedger, derived_keypair
from apps.chain.programs.ids import WSOL_MINT
from apps.chain.programs.pump import accounts as pump_accounts
from apps.chain.programs.pump import pdas as pump_pdas
from apps.chain.programs.spl import associated_token_address
from tests.chain.localnet import result, rpc

# Busy enough to see every fate in a few hundred steps.
BUSY = MarketConfig(
    seed=11,
    launches_per_minute=30,
    trades_per_second=10,
    graduation_share=0.5,
    rug_share=0.25,
    graduate_buy_sol=12,
)
STEPS = 240


def run_market(config: MarketConfig) -> tuple[MarketLedger, dict[str, object]]:
    """Run on a fresh localnet; return the ledger and what the chain says about it."""
    with start_localnet_in_thread(slot_ms=0) as net:
        ledger = asyncio.run(MarketGenerator(net.rpc_url, config).run(steps=STEPS))
        chain_view: dict[str, object] = {}
        for mint, _ in ledger.launches:
            info = result(
                net.rpc_url,
                "getAccountInfo",
                [
                    str(pump_pdas.bonding_curve_pda(Pubkey.from_string(mint))),
                    {"encoding": "base64"},
                ],
            )["value"]
            curve = pump_accounts.decode_bonding_curve(base64.b64decode(info["data"][0]))
            pool = pump_pdas.canonical_pool_pda(Pubkey.from_string(mint), WSOL_MINT)
            pool_info = result(net.rpc_url, "getAccountInfo", [str(pool), {"encoding": "base64"}])
            chain_view[mint] = (curve.complete, pool_info["value"] is not None)
        for index, (mint, fate) in enumerate(ledger.launches):
            if fate == "rug" and mint in ledger.rugs:
                creator = derived_keypair(config.seed, "creator", index).pubkey()
                ata = associated_token_address(creator, Pubkey.from_string(mint))
                answer = rpc(net.rpc_url, "getTokenAccountBalance", [str(ata)])
                chain_view[f"{mint}:creator_tokens"] = answer["result"]["value"]["amount"]
    return ledger, chain_view


@pytest.fixture(scope="module")
def first_run() -> tuple[MarketLedger, dict[str, object]]:
    return run_market(BUSY)


def test_same_seed__same_launches_graduations_and_trades(first_run) -> None:
    ledger, chain_view = first_run
    again, chain_again = run_market(BUSY)
    assert again.launches == ledger.launches
    assert again.graduations == ledger.graduations
    assert again.rugs == ledger.rugs
    assert (again.curve_trades, again.pool_trades) == (ledger.curve_trades, ledger.pool_trades)
    assert chain_again == chain_view


def test_every_fate_happens_and_the_chain_agrees(first_run) -> None:
    ledger, chain_view = first_run
    assert len(ledger.launches) == STEPS // BUSY.steps_per_launch
    assert ledger.graduations and ledger.rugs and ledger.pool_trades > 0
    assert ledger.rejected == 0
    for mint, _ in ledger.launches:
        complete, has_pool = chain_view[mint]
        # Graduated exactly when the chain holds a migrated curve and its pool.
        assert (mint in ledger.graduations) == has_pool
        assert not has_pool or complete
    for mint in ledger.rugs:
        assert chain_view[f"{mint}:creator_tokens"] == "0"  # the creator sold out


def test_another_seed__another_market(first_run) -> None:
    ledger, _ = first_run
    other, _ = run_market(MarketConfig(**{**BUSY.__dict__, "seed": 12}))
    assert {m for m, _ in other.launches}.isdisjoint({m for m, _ in ledger.launches})


@pytest.mark.parametrize(
    "bad",
    [
        {"launches_per_minute": 0},
        {"trades_per_second": -1},
        {"traders": 1},
        {"graduation_share": 0.9, "rug_share": 0.2},
    ],
)
def test_config__refuses_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        MarketConfig(**bad)
