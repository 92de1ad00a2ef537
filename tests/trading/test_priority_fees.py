"""GET /api/fees/priority against real transactions with known compute-unit prices."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from solders.compute_budget import set_compute_unit_price
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer

from apps.chain.localnet import LocalnetHandle
from apps.chain.localnet.fixtures import airdrop, send_instructions
from apps.chain.rpc_pool import rpc_pool
from apps.trading.services.priority_fees import percentile
from config.asgi import application
from tests.asgi import asgi_request
from tests.servers import free_port

SOL = 1_000_000_000

# Jito's documented tip_floor answer (docs.jito.wtf, low-latency transaction send), in SOL.
JITO_TIP_FLOOR_BODY = b"""[
  {
    "time": "2024-09-01T12:58:00Z",
    "landed_tips_25th_percentile": 6.001000000000001e-06,
    "landed_tips_50th_percentile": 1e-05,
    "landed_tips_75th_percentile": 3.6196500000000005e-05,
    "landed_tips_95th_percentile": 0.0014479055000000002,
    "landed_tips_99th_percentile": 0.010007999,
    "ema_landed_tips_50th_percentile": 9.836078125000002e-06
  }
]"""


async def get_fees(query: str = ""):
    return await asgi_request(application, "GET", "/api/fees/priority", query_string=query.encode())


def funded(net: LocalnetHandle, count: int) -> list[Keypair]:
    keys = [Keypair() for _ in range(count)]
    for key in keys:
        airdrop(net, key.pubkey(), SOL)
    return keys


def pay(net: LocalnetHandle, payer: Keypair, to: Pubkey, cu_price: int | None) -> None:
    """A real transfer that write-locks `payer` and `to`, at `cu_price` micro-lamports/CU."""
    ixs = [] if cu_price is None else [set_compute_unit_price(cu_price)]
    ixs.append(
        transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=SOL // 100))
    )
    send_instructions(net, payer, ixs, what=f"transfer at {cu_price}")


def levels(min, low, medium, high, very_high, unsafe_max) -> dict[str, int]:  # noqa: A002
    return dict(
        min=min, low=low, medium=medium, high=high, very_high=very_high, unsafe_max=unsafe_max
    )


# p0, p25, p50, p75, p95, p100 of [1000, 5000, 50000], linear between ranks.
THREE_PRICES = levels(1_000, 3_000, 5_000, 27_500, 45_500, 50_000)


@pytest.fixture
def three_priced_slots(net: LocalnetHandle, platform_rpc) -> list[int]:
    """Slots holding one transfer each at 1,000, 5,000 and 50,000 micro-lamports per CU,
    after two empty slots and one of airdrops (price 0); returns the three slots."""
    net.chain.advance_slot(2)
    payers = funded(net, 3)
    net.chain.advance_slot()
    slots = []
    for payer, price in zip(payers, (1_000, 5_000, 50_000), strict=True):
        slots.append(net.chain.slot)
        pay(net, payer, Keypair().pubkey(), price)
        net.chain.advance_slot()
    return slots


async def test_network_levels__last_three_slots__percentiles_of_the_landed_prices(
    net: LocalnetHandle, three_priced_slots
):
    response = await get_fees("slots=3")

    assert response.status == 200, response.body
    body = response.json()
    assert (body["slot"], body["slots"]) == (three_priced_slots[-1], 3)
    assert body["network_levels"] == THREE_PRICES
    assert body["account_levels"] is None
    assert body["accounts"] == []
    assert body["compute_unit_limit"] == 200_000
    assert body["levels"]["medium"] == {
        "percentile": 50,
        "compute_unit_price": 5_000,
        "priority_fee_lamports": 1_000,  # 200,000 CU x 5,000 micro-lamports
    }
    assert {name: level["compute_unit_price"] for name, level in body["levels"].items()} == (
        THREE_PRICES
    )
    assert [level["percentile"] for level in body["levels"].values()] == [0, 25, 50, 75, 95, 100]
    assert body["jito_tip"] is None  # JITO_TIP_FLOOR_URL is unset


async def test_network_levels__wider_window__empty_and_airdrop_slots_count_as_zero(
    net: LocalnetHandle, three_priced_slots
):
    response = await get_fees("slots=5&compute_unit_limit=300000")

    assert response.status == 200, response.body
    body = response.json()
    # [0, 0, 1000, 5000, 50000]: ranks 0, 1, 2, 3, 3.8, 4
    assert body["network_levels"] == levels(0, 0, 1_000, 5_000, 41_000, 50_000)
    assert body["compute_unit_limit"] == 300_000
    assert body["levels"]["very_high"]["priority_fee_lamports"] == 12_300  # 300k x 41,000 / 1e6


async def test_account_levels__count_only_transactions_write_locking_the_account(
    net: LocalnetHandle, platform_rpc
):
    hot, cold = Keypair().pubkey(), Keypair().pubkey()
    payers = funded(net, 6)
    net.chain.advance_slot()
    # Each slot also holds an unpriced transfer elsewhere, so its network minimum is 0
    # (as on mainnet), and a priced one write-locking `hot` or `cold`.
    for (background, priced), (to, price) in zip(
        zip(payers[::2], payers[1::2], strict=True),
        [(hot, 1_000), (cold, 5_000), (hot, 50_000)],
        strict=True,
    ):
        pay(net, background, Keypair().pubkey(), None)
        pay(net, priced, to, price)
        net.chain.advance_slot()

    hot_fees, cold_fees, both_fees = [
        (await get_fees(f"slots=3&accounts={accounts}")).json()
        for accounts in (hot, cold, f"{cold},{hot}")
    ]

    assert hot_fees["network_levels"] == levels(0, 0, 0, 0, 0, 0)
    # hot: [1000, 0, 50000]; the 5,000 paid for `cold` does not count.
    assert hot_fees["account_levels"] == levels(0, 500, 1_000, 25_500, 45_100, 50_000)
    assert hot_fees["accounts"] == [str(hot)]
    # cold: [0, 5000, 0]
    assert cold_fees["account_levels"] == levels(0, 0, 0, 2_500, 4_500, 5_000)
    # both: each slot's highest of the two, [1000, 5000, 50000]
    assert both_fees["account_levels"] == THREE_PRICES
    assert both_fees["accounts"] == sorted([str(hot), str(cold)])
    # The recommendation is the higher of network and accounts per level.
    assert {k: v["compute_unit_price"] for k, v in hot_fees["levels"].items()} == (
        hot_fees["account_levels"]
    )
    assert hot_fees["levels"]["high"]["priority_fee_lamports"] == 5_100  # 200k x 25,500


async def test_repeated_reads__answered_from_the_pool_cache_for_about_a_slot(
    net: LocalnetHandle, platform_rpc
):
    pool = rpc_pool()
    health = pool.health[pool.endpoints[0].name]
    await get_fees("slots=10")
    before = health.calls

    first, second = await get_fees("slots=10"), await get_fees("slots=20")
    cached_calls = health.calls - before
    await asyncio.sleep(0.5)
    await get_fees("slots=10")

    assert (first.status, second.status) == (200, 200)
    assert cached_calls == 0
    assert health.calls - before == 1


# ---- Jito tip floor -----------------------------------------------------------------------


class TipFloorServer:
    """A real HTTP server answering GET with a fixed status and body; counts requests."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body, self.requests = status, body, 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.requests += 1
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v1/bundles/tip_floor"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def tip_floor(settings) -> Iterator[TipFloorServer]:
    server = TipFloorServer(200, JITO_TIP_FLOOR_BODY)
    settings.JITO_TIP_FLOOR_URL = server.url
    try:
        yield server
    finally:
        server.close()


async def test_jito_tip__documented_tip_floor__lamports_rounded_up_and_cached(
    net: LocalnetHandle, platform_rpc, tip_floor
):
    first, second = await get_fees(), await get_fees()

    assert first.status == 200, first.body
    assert first.json()["jito_tip"] == {
        "time": "2024-09-01T12:58:00Z",
        "p25": 6_001,  # 6.001000000000001e-06 SOL: float noise is not a lamport
        "p50": 10_000,
        "p75": 36_197,  # 36,196.5 lamports
        "p95": 1_447_906,
        "p99": 10_007_999,
        "ema_p50": 9_837,
    }
    assert second.json()["jito_tip"] == first.json()["jito_tip"]
    assert tip_floor.requests == 1


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, b'{"error": "boom"}'),
        (200, b"<html>not json</html>"),
        (200, b'[{"time": 5, "landed_tips_50th_percentile": "lots"}]'),
    ],
)
async def test_jito_tip__broken_tip_source__levels_still_answer_without_tips(
    net: LocalnetHandle, platform_rpc, settings, status, body
):
    server = TipFloorServer(status, body)
    settings.JITO_TIP_FLOOR_URL = server.url
    try:
        response = await get_fees("slots=3")
    finally:
        server.close()

    assert response.status == 200, response.body
    assert response.json()["jito_tip"] is None
    assert server.requests == 1


# ---- bad input and a dead upstream ----------------------------------------------------------


@pytest.fixture
def dead_upstream(settings) -> str:
    url = f"http://127.0.0.1:{free_port()}"
    settings.SOLANA_RPC_URLS = [url]
    return url


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("accounts=notakey", "accounts"),
        (f"accounts={Pubkey.default()},0OIl{'1' * 40}", "accounts"),
        ("accounts=" + ",".join(str(Keypair().pubkey()) for _ in range(129)), "accounts"),
        ("slots=0", "slots"),
        ("slots=151", "slots"),
        ("slots=many", "slots"),
        ("compute_unit_limit=1400001", "compute_unit_limit"),
        ("level=high", "level"),
    ],
)
async def test_bad_query__422_naming_the_field_before_any_rpc_call(dead_upstream, query, field):
    response = await get_fees(query)

    assert response.status == 422, response.body
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("validation_error", field)


async def test_accounts__repeated_parameter_and_128_keys__accepted(net, platform_rpc):
    keys = [str(Keypair().pubkey()) for _ in range(128)]
    query = f"accounts={','.join(keys[:100])}&accounts={','.join(keys[100:])}&slots=1"

    response = await get_fees(query)

    assert response.status == 200, response.body
    assert response.json()["accounts"] == sorted(keys)


async def test_upstream_down__503_at_once(dead_upstream):
    started = time.monotonic()

    response = await get_fees()

    assert response.status == 503, response.body
    assert response.json()["error"]["code"] == "upstream_unavailable"
    assert time.monotonic() - started < 1.0


# ---- the math and the docs ------------------------------------------------------------------


def test_percentile__helius_convention_on_0_to_100():
    values = list(range(101))

    assert [percentile(values, p) for p in (0, 25, 50, 75, 95, 100)] == [0, 25, 50, 75, 95, 100]
    assert percentile([7], 95) == 7
    assert percentile([], 50) == 0


def test_openapi__documents_the_levels_and_tips():
    from config.api import api

    schema = api.get_openapi_schema()
    operation = schema["paths"]["/api/fees/priority"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {
        "accounts",
        "slots",
        "compute_unit_limit",
    }
    fee_out = schema["components"]["schemas"]["PriorityFeeOut"]["properties"]
    for name in ("levels", "network_levels", "account_levels", "jito_tip", "slots"):
        assert "p95" in json.dumps(fee_out[name]) or fee_out[name].get("description"), name
    level = schema["components"]["schemas"]["FeeLevelOut"]["properties"]
    assert "micro-lamports" in level["compute_unit_price"]["description"]
