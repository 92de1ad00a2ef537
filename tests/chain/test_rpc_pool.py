"""The RPC pool against real upstreams: two localnet RPC servers over one chain."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from solders.keypair import Keypair

from apps.chain.localnet import Chain, LocalnetHandle, start_localnet_in_thread
from apps.chain.rpc import RpcError, RpcUnavailable
from apps.chain.rpc_pool import RpcPool
from tests.servers import free_port

SOL = 1_000_000_000


@pytest.fixture
def two_upstreams() -> Iterator[tuple[LocalnetHandle, LocalnetHandle, Chain]]:
    chain = Chain()
    with start_localnet_in_thread(slot_ms=0, chain=chain) as first:
        with start_localnet_in_thread(slot_ms=0, chain=chain) as second:
            yield first, second, chain


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


async def test_reads_fail_over_when_an_upstream_dies_mid_load(two_upstreams) -> None:
    first, second, chain = two_upstreams
    wallet = Keypair().pubkey()
    chain.airdrop(wallet, 3 * SOL)
    pool = RpcPool([first.rpc_url, second.rpc_url], timeout=1.0)
    await pool.refresh_slots()
    answers: list[int] = []

    async def reader() -> None:
        for _ in range(40):
            result = await pool.call("getBalance", [str(wallet), {"commitment": "processed"}])
            answers.append(result["value"])
            await asyncio.sleep(0.005)

    readers = [asyncio.create_task(reader()) for _ in range(4)]
    await asyncio.sleep(0.1)
    # The endpoint the pool prefers dies mid-load.
    preferred, spare = (first, second) if pool.ranked()[0].url == first.rpc_url else (second, first)
    await asyncio.to_thread(preferred.stop)
    await asyncio.gather(*readers)
    assert answers == [3 * SOL] * 160  # every read succeeded with the right answer
    # Reads alone may never have touched the dead endpoint again (it had fallen behind
    # in the ranking); the health probe the pool runs as traffic flows always does.
    await pool.refresh_slots()
    health = {h["endpoint"]: h for h in pool.snapshot()}
    dead = health[pool.endpoints[[first, second].index(preferred)].name]
    alive = health[pool.endpoints[[first, second].index(spare)].name]
    assert dead["up"] is False and dead["errors"] >= 1
    assert dead["last_error"].startswith(dead["endpoint"])  # which upstream failed, no secrets
    assert alive["up"] is True
    assert pool.ranked()[0].url == spare.rpc_url
    up = REGISTRY.get_sample_value("solana_rpc_endpoint_up", {"endpoint": dead["endpoint"]})
    assert up == 0


async def test_all_upstreams_down__unavailable_within_the_timeout() -> None:
    pool = RpcPool([dead_url(), dead_url()], timeout=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RpcUnavailable) as caught:
        await pool.call("getBalance", [str(Keypair().pubkey())])
    assert loop.time() - started < 2 * 0.5 + 0.5
    assert "2 tried" in str(caught.value)
    assert "127.0.0.1" in str(caught.value)


async def test_identical_reads_in_flight_share_one_upstream_call(two_upstreams) -> None:
    first, _, chain = two_upstreams
    wallet = Keypair().pubkey()
    chain.airdrop(wallet, SOL)
    pool = RpcPool([first.rpc_url])
    params = [str(wallet), {"commitment": "processed"}]
    results = await asyncio.gather(*(pool.call("getBalance", params) for _ in range(20)))
    assert {r["value"] for r in results} == {SOL}
    assert pool.snapshot()[0]["calls"] < 20  # coalesced, not 20 upstream calls


async def test_cache_ttl_answers_repeats_and_expires(two_upstreams) -> None:
    first, _, chain = two_upstreams
    wallet = Keypair().pubkey()
    chain.airdrop(wallet, SOL)
    pool = RpcPool([first.rpc_url])
    params = [str(wallet), {"commitment": "processed"}]
    assert (await pool.call("getBalance", params, cache_ttl=0.3))["value"] == SOL
    chain.airdrop(wallet, SOL)
    assert (await pool.call("getBalance", params, cache_ttl=0.3))["value"] == SOL  # cached
    await asyncio.sleep(0.35)
    assert (await pool.call("getBalance", params, cache_ttl=0.3))["value"] == 2 * SOL


async def test_client_errors_are_not_retried_elsewhere(two_upstreams) -> None:
    first, second, _ = two_upstreams
    pool = RpcPool([first.rpc_url, second.rpc_url])
    with pytest.raises(RpcError) as caught:
        await pool.call("getBalance", ["not-a-pubkey"])
    assert caught.value.code == -32602
    assert sum(h["calls"] for h in pool.snapshot()) == 1
    assert all(h["errors"] == 0 for h in pool.snapshot())  # the node was fine


async def test_send_transaction_is_not_retried_on_another_upstream(two_upstreams) -> None:
    _, second, _ = two_upstreams
    pool = RpcPool([dead_url(), second.rpc_url])
    with pytest.raises(RpcUnavailable):
        await pool.call("sendTransaction", ["AAAA", {"encoding": "base64"}])
    assert pool.snapshot()[1]["calls"] == 0  # the second upstream never saw a resend


async def test_lagging_upstream_is_ranked_last(two_upstreams) -> None:
    first, second, chain = two_upstreams
    pool = RpcPool([first.rpc_url, second.rpc_url])
    chain.advance_slot()
    await pool.refresh_slots()
    chain.advance_slot(20)
    # Only the second endpoint is asked again: the first looks 20 slots behind.
    pool.observe_slot(pool.endpoints[1], chain.slot)
    assert pool.snapshot()[0]["slot_lag"] == 20
    assert pool.ranked()[0].url == second.rpc_url
    lag = REGISTRY.get_sample_value(
        "solana_rpc_slot_lag", {"endpoint": pool.snapshot()[0]["endpoint"]}
    )
    assert lag == 20


async def test_concurrent_reads_travel_as_one_batch_and_fail_one_by_one(two_upstreams) -> None:
    from apps.chain.rpc import Endpoint

    first, _, chain = two_upstreams
    wallet = Keypair().pubkey()
    chain.airdrop(wallet, 2 * SOL)
    endpoint = Endpoint(first.rpc_url)
    balance, slot, bad = await asyncio.gather(
        endpoint.call("getBalance", [str(wallet), {"commitment": "processed"}]),
        endpoint.call("getSlot", [{"commitment": "processed"}]),
        endpoint.call("getBalance", ["not-a-pubkey"]),
        return_exceptions=True,
    )
    assert endpoint.requests_sent == 1  # three calls, one HTTP round trip
    assert balance["value"] == 2 * SOL
    assert slot == chain.slot
    assert isinstance(bad, RpcError) and bad.code == -32602  # only that call failed
    # A send never rides in a batch with reads.
    await asyncio.gather(
        endpoint.call("getSlot"),
        endpoint.call("sendTransaction", ["AAAA", {"encoding": "base64"}]),
        return_exceptions=True,
    )
    assert endpoint.requests_sent == 3


async def test_a_batch_to_a_dead_upstream_fails_every_call_in_it() -> None:
    from apps.chain.rpc import Endpoint

    endpoint = Endpoint(dead_url(), timeout=0.5)
    results = await asyncio.gather(
        endpoint.call("getSlot"), endpoint.call("getHealth"), return_exceptions=True
    )
    assert all(isinstance(r, RpcUnavailable) for r in results)
    assert endpoint.requests_sent == 1
