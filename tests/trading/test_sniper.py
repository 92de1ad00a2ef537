"""Sniper rules deciding on monitor events: a match places one order per mint, the safety
minimum and the budget skip with their reason, the kill switch stops everything."""

from __future__ import annotations

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from solders.keypair import Keypair

from apps.chain.base58 import b58encode
from apps.trading.models import Order, SniperDecision, SniperRule, SniperSwitch, SniperTrigger
from apps.trading.services.sniper import Sniper, candidate_from_event, filter_reason
from apps.trading.services.wallets import import_wallet
from tests.chain.localnet.test_pump_model import funded, launch

pytestmark = pytest.mark.django_db(transaction=True)

SOL = 1_000_000_000


@sync_to_async
def _user():
    return get_user_model().objects.create_user("sniper", "sniper@example.com")


async def _rule(user, wallet, **changes) -> SniperRule:
    fields = {
        "owner": user,
        "wallet": wallet,
        "name": "dogs",
        "trigger": SniperTrigger.NEW_TOKEN,
        "name_pattern": "dog",
        "amount_lamports": SOL // 10,
        "budget_lamports": SOL // 4,  # two buys
        "min_safety": "caution",
        "compute_unit_price": 1_000,
        **changes,
    }
    return await SniperRule.objects.acreate(**fields)


def _created(mint, name="Localnet Dog", creator="C") -> tuple:
    return (
        "pulse",
        "token.created",
        "1-0",
        {
            "mint": str(mint),
            "column": "new",
            "name": name,
            "symbol": "LDOG",
            "creator": creator,
            "dev_holding_pct": "3.5",
        },
    )


@pytest.fixture
async def setup(net, platform_rpc):
    user = await _user()
    wallet = await import_wallet(user_id=user.pk, secret_key=b58encode(bytes(funded(net, 5))))
    executed: list[int] = []

    async def execute(order_id: int) -> str:
        executed.append(order_id)
        return "submitted"

    levels: dict[str, str] = {}

    async def safety(mint: str) -> str:
        return levels.get(mint, "safe")

    return user, wallet, Sniper(execute=execute, safety=safety), executed, levels


async def test_match__one_order_per_mint_even_if_the_event_repeats(setup, net):
    user, wallet, sniper, executed, _ = setup
    rule = await _rule(user, wallet)
    await sniper.load()
    mint = launch(net, funded(net))

    first = await sniper.on_event(*_created(mint))
    again = await sniper.on_event(*_created(mint))
    for task in list(sniper._tasks):
        await task

    assert [d.outcome for d in first] == ["bought"] and again == []
    order = await Order.objects.aget()
    assert (order.mint, order.side, int(order.amount)) == (str(mint), "buy", SOL // 10)
    assert order.idempotency_key == f"sniper:{rule.pk}:{mint}"
    assert executed == [order.pk]


async def test_safety_minimum_and_budget__skipped_with_the_reason(setup, net):
    user, wallet, sniper, _, levels = setup
    await _rule(user, wallet)
    await sniper.load()
    risky = launch(net, funded(net))
    levels[str(risky)] = "danger"
    mints = [launch(net, funded(net)) for _ in range(3)]

    await sniper.on_event(*_created(risky))
    for mint in mints:
        await sniper.on_event(*_created(mint))
    decisions = {d.mint: d async for d in SniperDecision.objects.all()}

    assert decisions[str(risky)].outcome == "skipped"
    assert "safety danger" in decisions[str(risky)].reason
    assert [decisions[str(m)].outcome for m in mints] == ["bought", "bought", "skipped"]
    assert "budget spent" in decisions[str(mints[2])].reason
    assert await Order.objects.acount() == 2


async def test_kill_switch__no_rule_fires(setup, net):
    user, wallet, sniper, _, _ = setup
    await _rule(user, wallet)
    await SniperSwitch.objects.acreate(pk=1, enabled=False)
    await sniper.load()

    decided = await sniper.on_event(*_created(launch(net, funded(net))))

    assert decided == []
    assert await SniperDecision.objects.acount() == 0


def test_filters__patterns_creators_and_dev_holding():
    rule = SniperRule(
        name_pattern="dog",
        symbol_pattern="",
        creator_allow=[],
        creator_deny=["Rugger"],
        max_dev_holding_pct=Decimal("5"),
    )
    ok = candidate_from_event(*_created(Keypair().pubkey()))
    cat = candidate_from_event(*_created(Keypair().pubkey(), name="Cat"))
    denied = candidate_from_event(*_created(Keypair().pubkey(), creator="Rugger"))
    heavy = candidate_from_event(
        "pulse",
        "token.created",
        "1-0",
        {"mint": "M", "column": "new", "name": "dog", "dev_holding_pct": "40"},
    )

    assert filter_reason(rule, ok) is None
    assert "does not match" in filter_reason(rule, cat)
    assert filter_reason(rule, denied) == "creator on the deny list"
    assert "dev holds 40%" in filter_reason(rule, heavy)
    assert candidate_from_event("pulse", "token.updated", "1-0", {"mint": "M"}) is None
    migrated = candidate_from_event(
        "migrations", "migrated", "1-0", {"mint": "M", "stage": "migrated"}
    )
    assert migrated.trigger == SniperTrigger.MIGRATED
