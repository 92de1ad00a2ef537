"""Orders end to end on the localnet: POST /api/orders → build → sign → every engine at
once → landed, watched through signature statuses; the fallback; idempotency; a worker
that died after signing; bad input; events on the user's private topic."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from solders.keypair import Keypair

from apps.chain.base58 import b58encode
from apps.chain.localnet import LocalnetHandle, start_localnet_in_thread
from apps.chain.localnet.engines_core import EngineFaults
from apps.chain.programs.spl import associated_token_address
from apps.ingestion.services.api_tokens import api_token_issue
from apps.realtime.bus import subscribe
from apps.trading.models import Order, OrderAttempt, OrderState
from apps.trading.services.engines import ENGINE_NAMES, engine
from apps.trading.services.execution import _build_and_sign, execute_order
from config.asgi import application
from tests.chain.localnet.test_pump_model import funded, launch, token_balance
from tests.trading.test_order_builder import migrated_coin

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SOL = 1_000_000_000


@pytest.fixture(scope="module")
def ticking() -> Iterator[LocalnetHandle]:
    with start_localnet_in_thread(slot_ms=40) as handle:  # slots move on by themselves
        yield handle


@pytest.fixture
def platform(ticking: LocalnetHandle, settings):
    settings.SOLANA_RPC_URLS = [ticking.rpc_url]
    settings.JITO_URL = f"{ticking.engines_url}/jito"
    settings.BLOXROUTE_URL = f"{ticking.engines_url}/bloxroute"
    settings.NEXTBLOCK_URL = f"{ticking.engines_url}/nextblock"
    settings.CELERY_TASK_ALWAYS_EAGER = True  # orders run in this process, on this loop
    settings.SLOT_SECONDS = 0.04
    settings.ORDER_POLL_SECONDS = 0.02
    settings.ORDER_REBROADCAST_SECONDS = 0.05
    for name in ENGINE_NAMES:
        ticking.chain.airdrop(engine(name).tip_account(0), SOL)
        ticking.chain.airdrop(engine(name).tip_account(1), SOL)
        ticking.chain.airdrop(engine(name).tip_account(2), SOL)
    yield ticking
    for name in ENGINE_NAMES:
        ticking.engines.engine(name).faults = EngineFaults()


@pytest.fixture
def trader(platform):
    user = get_user_model().objects.create_user("trader", "trader@example.com")
    keypair = funded(platform, 30)
    return {
        "user": user,
        "keypair": keypair,
        "auth": {"Authorization": f"Bearer {api_token_issue(user=user).raw}"},
    }


@sync_to_async
def _other_user(name: str) -> dict[str, str]:
    user = get_user_model().objects.create_user(name, f"{name}@example.com")
    return {"Authorization": f"Bearer {api_token_issue(user=user).raw}"}


@pytest.fixture
def client():
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application), base_url="http://testserver", timeout=30
    )


async def _import(client, trader) -> str:
    response = await client.post(
        "/api/wallets/import",
        json={"secret_key": b58encode(bytes(trader["keypair"]))},
        headers=trader["auth"],
    )
    assert response.status_code == 201
    return response.json()["pubkey"]


async def _until_final(client, trader, order_id: int, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = (await client.get(f"/api/orders/{order_id}", headers=trader["auth"])).json()
        if body["state"] in ("landed", "failed", "expired", "cancelled"):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"order {order_id} still {body['state']} after {timeout} s")


def _buy(wallet_: str, mint_, key: str, **changes) -> dict:
    return {
        "idempotency_key": key,
        "wallet": wallet_,
        "mint": str(mint_),
        "side": "buy",
        "amount": "0.1",
        "amount_unit": "sol",
        "slippage_bps": 500,
        "compute_unit_price": 1_000,
        **changes,
    }


async def test_buy_on_the_curve__lands_once_through_the_engines(platform, trader, client):
    wallet = await _import(client, trader)
    mint = launch(platform, funded(platform))
    events = subscribe([f"orders:{trader['user'].pk}"])
    await events.start()

    placed = await client.post(
        "/api/orders", json=_buy(wallet, mint, "buy-1"), headers=trader["auth"]
    )
    final = await _until_final(client, trader, placed.json()["id"])
    held = token_balance(platform, associated_token_address(trader["keypair"].pubkey(), mint))
    attempts = [a async for a in OrderAttempt.objects.filter(order_id=final["id"])]
    seen = []
    while True:
        try:
            seen.append((await asyncio.wait_for(events.__anext__(), 1)).type)
        except TimeoutError:
            break
    await events.aclose()

    assert placed.status_code == 201
    assert final["state"] == "landed", final
    assert final["venue"] == "curve"
    assert final["landed_route"] in ENGINE_NAMES
    assert len(final["signatures"]) == 4  # one per engine and the RPC fallback copy
    quote = final["quote"]
    assert int(quote["bound"]) <= held == int(quote["expected_out"])
    assert {a.route for a in attempts} == set(ENGINE_NAMES)
    assert all(a.accepted for a in attempts)
    assert seen[0] == "order.pending" and seen[-1] == "order.landed"
    assert "order.submitted" in seen


async def test_same_idempotency_key_twice__one_order(platform, trader, client):
    wallet = await _import(client, trader)
    mint = launch(platform, funded(platform))
    body = _buy(wallet, mint, "same-key")

    first, second = await asyncio.gather(
        client.post("/api/orders", json=body, headers=trader["auth"]),
        client.post("/api/orders", json=body, headers=trader["auth"]),
    )
    final = await _until_final(client, trader, first.json()["id"])
    other = await client.post("/api/orders", json={**body, "amount": "0.2"}, headers=trader["auth"])

    assert {first.status_code, second.status_code} <= {200, 201}
    assert first.json()["id"] == second.json()["id"]
    assert await Order.objects.acount() == 1
    assert final["state"] == "landed"
    assert other.status_code == 409 and other.json()["error"]["field"] == "idempotency_key"
    held = token_balance(platform, associated_token_address(trader["keypair"].pubkey(), mint))
    assert held == int(final["quote"]["expected_out"])  # one buy


async def test_every_engine_drops__the_rpc_fallback_lands_it_once(platform, trader, client):
    for name in ENGINE_NAMES:
        platform.engines.engine(name).faults = EngineFaults(drop_share=1.0)
    wallet = await _import(client, trader)
    mint = launch(platform, funded(platform))

    placed = await client.post(
        "/api/orders", json=_buy(wallet, mint, "fallback"), headers=trader["auth"]
    )
    final = await _until_final(client, trader, placed.json()["id"])
    held = token_balance(platform, associated_token_address(trader["keypair"].pubkey(), mint))

    assert final["state"] == "landed", final
    assert final["landed_route"] == "rpc"
    assert held == int(final["quote"]["expected_out"])
    assert await OrderAttempt.objects.filter(order_id=final["id"], route="rpc").aexists()


async def test_worker_died_after_signing__resumed_it_completes_once(
    platform, trader, client, settings
):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # queued for a worker that never comes: it died
    wallet = await _import(client, trader)
    mint = launch(platform, funded(platform))
    placed = await client.post(
        "/api/orders", json=_buy(wallet, mint, "crash"), headers=trader["auth"]
    )
    order = await Order.objects.select_related("wallet").aget(pk=placed.json()["id"])
    await Order.objects.filter(pk=order.pk).aupdate(state=OrderState.BUILDING)
    order.state = OrderState.BUILDING
    await _build_and_sign(order)  # signed and stored; then the worker "died"
    signed = (await Order.objects.aget(pk=order.pk)).signed_transactions

    first, second = await asyncio.gather(execute_order(order.pk), execute_order(order.pk))
    final = await Order.objects.aget(pk=order.pk)
    held = token_balance(platform, associated_token_address(trader["keypair"].pubkey(), mint))

    assert {first, second} == {"landed"}
    assert final.signed_transactions == signed  # resent as signed, never rebuilt
    assert held == int(final.quote["expected_out"])


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"wallet": str(Keypair().pubkey())}, "wallet"),
        ({"amount": "0"}, "amount"),
        ({"amount": "-1"}, "amount"),
        ({"slippage_bps": 10_001}, "slippage_bps"),
        ({"mint": "not-a-mint"}, "mint"),
        ({"side": "hodl"}, "side"),
        ({"amount_unit": "tokens"}, "amount_unit"),
        ({"priority_level": "ludicrous", "compute_unit_price": None}, "priority_level"),
        ({"engines": ["carrier-pigeon"]}, "engines"),
        ({"amount": "0.0000000001"}, "amount"),
    ],
)
async def test_bad_input__4xx_naming_the_field_and_nothing_stored(
    platform, trader, client, changes, field
):
    wallet = await _import(client, trader)
    mint = launch(platform, funded(platform))
    response = await client.post(
        "/api/orders", json=_buy(wallet, mint, "bad", **changes), headers=trader["auth"]
    )

    assert 400 <= response.status_code < 500
    assert response.json()["error"]["field"] == field, response.json()
    assert await Order.objects.acount() == 0


async def test_someone_elses_wallet_or_a_non_token_mint__422_nothing_stored(
    platform, trader, client
):
    other_auth = await _other_user("other")
    wallet = await _import(client, trader)
    mint = launch(platform, funded(platform))

    theirs = await client.post("/api/orders", json=_buy(wallet, mint, "x"), headers=other_auth)
    not_token = await client.post(
        "/api/orders", json=_buy(wallet, wallet, "y"), headers=trader["auth"]
    )

    assert theirs.status_code == 422 and theirs.json()["error"]["field"] == "wallet"
    assert not_token.status_code == 422 and not_token.json()["error"]["field"] == "mint"
    assert await Order.objects.acount() == 0


async def test_orders_are_private(platform, trader, client):
    other_auth = await _other_user("nosy")
    wallet = await _import(client, trader)
    mint = launch(platform, funded(platform))
    placed = await client.post(
        "/api/orders", json=_buy(wallet, mint, "mine"), headers=trader["auth"]
    )
    await _until_final(client, trader, placed.json()["id"])

    peek = await client.get(f"/api/orders/{placed.json()['id']}", headers=other_auth)
    listing = await client.get("/api/orders", headers=other_auth)

    assert peek.status_code == 404
    assert listing.json() == []
    assert (
        json.loads((await client.get("/api/orders", headers=trader["auth"])).text)[0]["id"]
        == (placed.json()["id"])
    )


async def test_pumpswap_buy_then_sell_everything__venue_from_chain_state(platform, trader, client):
    wallet = await _import(client, trader)
    mint = await migrated_coin(platform)
    account = associated_token_address(trader["keypair"].pubkey(), mint)

    bought = await client.post(
        "/api/orders", json=_buy(wallet, mint, "amm-buy"), headers=trader["auth"]
    )
    buy = await _until_final(client, trader, bought.json()["id"])
    held = token_balance(platform, account)
    sold = await client.post(
        "/api/orders",
        json=_buy(wallet, mint, "amm-sell", side="sell", amount="100", amount_unit="percent"),
        headers=trader["auth"],
    )
    sell = await _until_final(client, trader, sold.json()["id"])

    assert (buy["state"], buy["venue"]) == ("landed", "pumpswap"), buy
    assert int(buy["quote"]["bound"]) <= held == int(buy["quote"]["expected_out"])
    assert (sell["state"], sell["venue"]) == ("landed", "pumpswap"), sell
    assert int(sell["quote"]["amount_in"]) == held
    assert token_balance(platform, account) == 0


async def test_cancel__only_while_pending(platform, trader, client, settings):
    wallet = await _import(client, trader)
    mint = launch(platform, funded(platform))
    settings.CELERY_TASK_ALWAYS_EAGER = False  # queued for a worker that is not there
    waiting = await client.post(
        "/api/orders", json=_buy(wallet, mint, "to-cancel"), headers=trader["auth"]
    )
    cancelled = await client.post(
        f"/api/orders/{waiting.json()['id']}/cancel", headers=trader["auth"]
    )
    again = await client.post(f"/api/orders/{waiting.json()['id']}/cancel", headers=trader["auth"])
    ran = await execute_order(waiting.json()["id"])  # a late worker does nothing with it
    settings.CELERY_TASK_ALWAYS_EAGER = True
    placed = await client.post(
        "/api/orders", json=_buy(wallet, mint, "done"), headers=trader["auth"]
    )
    await _until_final(client, trader, placed.json()["id"])
    too_late = await client.post(
        f"/api/orders/{placed.json()['id']}/cancel", headers=trader["auth"]
    )

    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert again.status_code == 200 and again.json()["state"] == "cancelled"
    assert ran == "cancelled"
    assert too_late.status_code == 409
    assert not await OrderAttempt.objects.filter(order_id=waiting.json()["id"]).aexists()
