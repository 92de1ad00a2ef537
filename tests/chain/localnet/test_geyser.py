"""The localnet's Yellowstone gRPC server, driven by a real grpcio client over loopback.

The chain's clock is stepped by hand, so every test knows exactly which updates must
arrive. A stream is read up to a sentinel (the slot update for the slot the test opens
last), so "nothing else arrived" is checked without sleeping.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import VersionedTransaction

from apps.chain.localnet.chain import Chain
from apps.chain.localnet.geyser import GeyserService
from apps.chain.localnet.geyser_messages import transaction_error_bincode
from protos.generated import geyser_pb2 as pb
from protos.generated import geyser_pb2_grpc as pb_grpc
from tests.chain.localnet import SOL, transfer_tx

SYSTEM = "11111111111111111111111111111111"
READ_TIMEOUT = 5.0


class Stream:
    """One Subscribe call: send requests on it at any time, read updates up to a sentinel."""

    def __init__(self, stub: pb_grpc.GeyserStub, metadata: Any = None) -> None:
        self._requests: asyncio.Queue[pb.SubscribeRequest] = asyncio.Queue()
        self._ping_id = 1000
        self._backlog: list[pb.SubscribeUpdate] = []
        self.call = stub.Subscribe(self._outgoing(), metadata=metadata)

    async def _outgoing(self) -> AsyncIterator[pb.SubscribeRequest]:
        while True:
            yield await self._requests.get()

    async def send(self, request: pb.SubscribeRequest) -> None:
        await self._requests.put(request)

    async def read(self) -> pb.SubscribeUpdate:
        if self._backlog:
            return self._backlog.pop(0)
        return await asyncio.wait_for(self.call.read(), READ_TIMEOUT)

    async def subscribe(self, request: pb.SubscribeRequest) -> None:
        """Send `request` and wait until the server applied it.

        Requests are handled in order, so the pong to a ping sent after it proves the
        new filters are in force.
        """
        self._ping_id += 1
        await self.send(request)
        await self.send(pb.SubscribeRequest(ping=pb.SubscribeRequestPing(id=self._ping_id)))
        early = []  # what the new filters let through before the pong: kept for the test
        async with asyncio.timeout(READ_TIMEOUT):
            while True:
                update = await self.read()
                assert update != grpc.aio.EOF, "stream ended"
                if update.HasField("pong") and update.pong.id == self._ping_id:
                    self._backlog[:0] = early
                    return
                early.append(update)

    async def until_slot(self, slot: int, status: int = pb.SLOT_PROCESSED) -> list[Any]:
        """Every update (pings aside) up to and including the slot update (slot, status)."""
        out = []
        async with asyncio.timeout(READ_TIMEOUT):
            while True:
                update = await self.read()
                assert update != grpc.aio.EOF, "stream ended"
                kind = update.WhichOneof("update_oneof")
                if kind == "ping":
                    continue
                out.append(update)
                if kind == "slot" and update.slot.slot == slot and update.slot.status == status:
                    return out

    async def error(self) -> grpc.aio.AioRpcError:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            while True:
                update = await self.read()
                assert update != grpc.aio.EOF, "stream ended without a status"
        return info.value


def sync_request(**filters: Any) -> pb.SubscribeRequest:
    """A request whose slot filter `clock` lets `until_slot` find its sentinel."""
    request = pb.SubscribeRequest(**filters)
    request.slots["clock"].SetInParent()
    return request


def summary(updates: list[Any]) -> list[tuple[str, str, list[str]]]:
    """(kind, key, filters) for each non-slot update: key is the pubkey, signature or slot."""
    out = []
    for u in updates:
        kind = u.WhichOneof("update_oneof")
        if kind == "account":
            key = str(Pubkey.from_bytes(u.account.account.pubkey))
        elif kind == "transaction":
            key = str(Pubkey.from_bytes(u.transaction.transaction.signature[:32]))
        elif kind == "transaction_status":
            key = str(Pubkey.from_bytes(u.transaction_status.signature[:32]))
        elif kind == "block_meta":
            key = str(u.block_meta.slot)
        else:
            continue
        out.append((kind, key, sorted(u.filters)))
    return out


def sig_key(signature: Any) -> str:
    return str(Pubkey.from_bytes(bytes(signature)[:32]))


@pytest.fixture
async def geyser() -> AsyncIterator[tuple[Chain, GeyserService, pb_grpc.GeyserStub]]:
    chain = Chain(finality_depth=3)
    service = GeyserService(chain, history_slots=8, ping_interval=0.3)
    port = await service.start("127.0.0.1", 0)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield chain, service, pb_grpc.GeyserStub(channel)
    finally:
        await channel.close()
        await service.stop(grace=0)
    assert service._on_slot not in chain.slot_listeners
    assert service._on_transaction not in chain.transaction_listeners


def funded(chain: Chain, lamports: int = 10 * SOL) -> Keypair:
    keypair = Keypair()
    assert chain.airdrop(keypair.pubkey(), lamports).err is None
    return keypair


def blockhash(chain: Chain) -> Any:
    return chain.latest_blockhash("processed")[0]


async def test_each_filter_gets_exactly_its_matching_updates(geyser) -> None:
    chain, service, stub = geyser
    payer, alice, bob, carol = funded(chain), Keypair(), Keypair(), Keypair()
    chain.advance_slot(chain.finality_depth + 1)  # so that closing a slot finalizes one
    pay_bob = transfer_tx(payer, bob.pubkey(), SOL, blockhash(chain))

    request = sync_request()
    request.accounts["alice"].account.append(str(alice.pubkey()))
    request.accounts["bob_or_carol"].account.extend([str(bob.pubkey()), str(carol.pubkey())])
    request.accounts["rich"].filters.add().lamports.gt = 5 * SOL
    request.transactions["payer"].account_include.append(str(payer.pubkey()))
    request.transactions["payer_ok"].account_include.append(str(payer.pubkey()))
    request.transactions["payer_ok"].failed = False
    request.transactions["failed"].failed = True
    request.transactions["no_faucet"].account_exclude.append(str(chain.faucet.pubkey()))
    request.transactions["by_sig"].signature = str(pay_bob.signatures[0])
    request.transactions["payer_and_bob"].account_required.extend(
        [str(payer.pubkey()), str(bob.pubkey())]
    )
    request.blocks_meta["blocks"].SetInParent()
    stream = Stream(stub)
    await stream.subscribe(request)
    slot = chain.slot

    assert chain.execute(pay_bob).err is None
    airdrop = chain.airdrop(alice.pubkey(), SOL)
    overdraft = transfer_tx(payer, carol.pubkey(), 100 * SOL, blockhash(chain))
    failed = chain.execute(overdraft)
    assert failed.err is not None and failed.record is not None
    updates = await stream.until_slot(chain.advance_slot())

    payer_key, faucet_key = str(payer.pubkey()), str(chain.faucet.pubkey())
    pay_bob_sig, failed_sig = sig_key(pay_bob.signatures[0]), sig_key(failed.signature)
    assert summary(updates) == [
        ("account", payer_key, ["rich"]),
        ("account", str(bob.pubkey()), ["bob_or_carol"]),
        (
            "transaction",
            pay_bob_sig,
            ["by_sig", "no_faucet", "payer", "payer_and_bob", "payer_ok"],
        ),
        ("account", faucet_key, ["rich"]),
        ("account", str(alice.pubkey()), ["alice"]),
        # the airdrop matches no transaction filter: it involves the faucet, not the payer
        ("account", payer_key, ["rich"]),  # a failed transaction still charged its fee
        ("transaction", failed_sig, ["failed", "no_faucet", "payer"]),
        ("block_meta", str(slot), ["blocks"]),
    ]
    statuses = [(u.slot.slot, u.slot.status) for u in updates if u.HasField("slot")]
    assert statuses == [
        (slot, pb.SLOT_CONFIRMED),
        (slot + 1 - chain.finality_depth, pb.SLOT_FINALIZED),
        (slot + 1, pb.SLOT_PROCESSED),
    ]
    assert all(u.slot.parent == u.slot.slot - 1 for u in updates if u.HasField("slot"))

    accounts = [u.account for u in updates if u.HasField("account")]
    assert all(a.slot == slot and not a.is_startup for a in accounts)
    versions = [a.account.write_version for a in accounts]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert accounts[1].account.lamports == chain.get_balance(bob.pubkey()) == SOL
    assert accounts[1].account.txn_signature == bytes(pay_bob.signatures[0])
    assert accounts[1].account.owner == bytes(Pubkey.from_string(SYSTEM))

    tx_ok, tx_failed = (u.transaction for u in updates if u.HasField("transaction"))
    record = chain.transaction(pay_bob.signatures[0])
    assert tx_ok.slot == slot and tx_ok.transaction.index == record.index == 0
    info = tx_ok.transaction
    assert info.signature == bytes(pay_bob.signatures[0]) and not info.is_vote
    assert info.transaction.signatures == [bytes(pay_bob.signatures[0])]
    message = info.transaction.message
    assert [Pubkey.from_bytes(k) for k in message.account_keys] == list(
        pay_bob.message.account_keys
    )
    assert message.recent_blockhash == bytes(pay_bob.message.recent_blockhash)
    assert message.header.num_required_signatures == 1 and not message.versioned
    assert message.instructions[0].data == bytes(pay_bob.message.instructions[0].data)
    assert not info.meta.HasField("err")
    assert info.meta.fee == record.fee == 5000
    assert list(info.meta.pre_balances) == record.pre_balances
    assert list(info.meta.post_balances) == record.post_balances
    assert list(info.meta.log_messages) == record.logs and record.logs
    assert info.meta.compute_units_consumed == record.compute_units > 0
    assert info.meta.return_data_none

    # InstructionError(0, Custom(1)): the system program's "insufficient lamports"
    assert failed.err == {"InstructionError": [0, {"Custom": 1}]}
    expected_err = struct.pack("<IBII", 8, 0, 25, 1)
    assert tx_failed.transaction.meta.err.err == expected_err
    assert transaction_error_bincode("BlockhashNotFound") == struct.pack("<I", 7)
    assert airdrop.record is not None


async def test_account_data_filters_slices_and_transaction_status(geyser) -> None:
    chain, service, stub = geyser
    payer, owner, new_account = funded(chain), Keypair(), Keypair()
    chain.advance_slot()
    request = sync_request(
        accounts_data_slice=[
            pb.SubscribeRequestAccountsDataSlice(offset=0, length=2),
            pb.SubscribeRequestAccountsDataSlice(offset=8, length=4),
        ]
    )
    sized = request.accounts["sized"]
    sized.filters.add().datasize = 64
    sized.filters.add().memcmp.bytes = b"\0" * 8
    request.accounts["owned"].owner.append(str(owner.pubkey()))
    request.accounts["wrong_size"].filters.add().datasize = 65
    request.transactions_status["status"].account_include.append(str(new_account.pubkey()))
    stream = Stream(stub)
    await stream.subscribe(request)
    await stream.until_slot(chain.advance_slot())

    rent = chain.minimum_balance_for_rent_exemption(64)
    ix = create_account(
        CreateAccountParams(
            from_pubkey=payer.pubkey(),
            to_pubkey=new_account.pubkey(),
            lamports=rent,
            space=64,
            owner=owner.pubkey(),
        )
    )
    message = Message.new_with_blockhash([ix], payer.pubkey(), blockhash(chain))
    tx = VersionedTransaction(message, [payer, new_account])
    assert chain.execute(tx).err is None
    updates = await stream.until_slot(chain.advance_slot())

    assert summary(updates) == [
        ("account", str(new_account.pubkey()), ["owned", "sized"]),
        ("transaction_status", sig_key(tx.signatures[0]), ["status"]),
    ]
    account = updates[0].account.account
    assert account.data == b"\0" * 6  # 2 bytes at 0 and 4 at 8, concatenated
    assert account.lamports == rent and account.owner == bytes(owner.pubkey())
    status = updates[1].transaction_status
    assert status.slot == chain.slot - 1 and status.index == 0 and not status.is_vote
    assert not status.HasField("err")


async def test_commitment_levels_deliver_a_slot_when_it_reaches_them(geyser) -> None:
    chain, service, stub = geyser
    payer, bob = funded(chain), Keypair()
    streams = {}
    for level in (pb.PROCESSED, pb.CONFIRMED, pb.FINALIZED):
        request = sync_request(commitment=level)
        request.transactions["mine"].account_include.append(str(payer.pubkey()))
        request.slots["committed"].filter_by_commitment = True
        request.blocks_meta["blocks"].SetInParent()
        streams[level] = Stream(stub)
        await streams[level].subscribe(request)
    opened = chain.advance_slot()
    for stream in streams.values():
        await stream.until_slot(opened)

    landed = chain.execute(transfer_tx(payer, bob.pubkey(), SOL, blockhash(chain)))
    sig = sig_key(landed.signature)
    tx_slot = landed.record.slot
    nxt = chain.advance_slot()
    processed = await streams[pb.PROCESSED].until_slot(nxt)
    confirmed = await streams[pb.CONFIRMED].until_slot(nxt)
    finalized = await streams[pb.FINALIZED].until_slot(nxt)
    assert summary(processed) == [
        ("transaction", sig, ["mine"]),
        ("block_meta", str(tx_slot), ["blocks"]),
    ]
    # confirmed: the slot's transactions, its block meta, then its CONFIRMED status
    assert [(k, f) for k, _, f in summary(confirmed)] == [
        ("transaction", ["mine"]),
        ("block_meta", ["blocks"]),
    ]
    last_confirmed = [u for u in confirmed if u.HasField("slot")][0]
    assert (last_confirmed.slot.slot, last_confirmed.slot.status) == (tx_slot, pb.SLOT_CONFIRMED)
    assert last_confirmed.filters == ["clock", "committed"]  # filter_by_commitment matched
    assert confirmed.index(last_confirmed) == 2
    assert summary(finalized) == []  # not final yet

    while chain.slot < tx_slot + chain.finality_depth - 1:
        await streams[pb.FINALIZED].until_slot(chain.advance_slot())
    final = chain.advance_slot()  # now tx_slot is finality_depth slots deep
    finalized = await streams[pb.FINALIZED].until_slot(final)
    assert summary(finalized) == [
        ("transaction", sig, ["mine"]),
        ("block_meta", str(tx_slot), ["blocks"]),
    ]
    final_status = [u for u in finalized if u.slot.status == pb.SLOT_FINALIZED][0]
    assert final_status.slot.slot == tx_slot and final_status.filters == ["clock", "committed"]
    # filter_by_commitment: the other statuses reach only the unfiltered `clock`
    assert all(
        u.filters == ["clock"] for u in finalized if u.HasField("slot") and u is not final_status
    )


async def test_from_slot_replays_history_without_gaps_or_duplicates(geyser) -> None:
    chain, service, stub = geyser
    payer = funded(chain)
    chain.advance_slot(10)  # more slots than the service keeps (8)
    request = sync_request()
    request.accounts["all"].SetInParent()
    request.transactions["all"].SetInParent()
    request.blocks_meta["blocks"].SetInParent()
    live = Stream(stub)
    await live.subscribe(request)
    start = chain.advance_slot()
    seen_live = await live.until_slot(start)

    for _ in range(4):  # transactions from another thread, as the RPC server sends them
        for _ in range(2):
            tx = transfer_tx(payer, Keypair().pubkey(), SOL // 10, blockhash(chain))
            assert (await asyncio.to_thread(chain.execute, tx)).err is None
        await asyncio.to_thread(chain.advance_slot)
    seen_live += await live.until_slot(chain.slot)

    info = await stub.SubscribeReplayInfo(pb.SubscribeReplayInfoRequest())
    assert info.first_available == service.first_available == chain.slot - 8 + 1
    from_slot = start + 2
    replay_request = pb.SubscribeRequest()
    replay_request.CopyFrom(request)
    replay_request.from_slot = from_slot
    replay = Stream(stub)
    await replay.subscribe(replay_request)
    # history first, then live updates on the same stream
    tx = transfer_tx(payer, Keypair().pubkey(), SOL // 10, blockhash(chain))
    assert chain.execute(tx).err is None
    end = chain.advance_slot()
    seen_live += await live.until_slot(end)
    replayed = await replay.until_slot(end)

    def key(u: Any) -> tuple[str, bytes]:
        return (u.WhichOneof("update_oneof"), u.SerializeToString())

    belongs = [
        u
        for u in seen_live
        if {"account": u.account.slot, "transaction": u.transaction.slot}.get(
            u.WhichOneof("update_oneof"), u.slot.slot or u.block_meta.slot
        )
        >= from_slot
    ]
    assert [key(u) for u in replayed] == [key(u) for u in belongs]
    signatures = [
        u.transaction.transaction.signature for u in replayed if u.HasField("transaction")
    ]
    # two transactions in each of slots start+2 and start+3, then the live one
    assert len(signatures) == len(set(signatures)) == 2 * 2 + 1
    versions = [u.account.account.write_version for u in replayed if u.HasField("account")]
    assert versions == sorted(set(versions))

    too_old = pb.SubscribeRequest(from_slot=service.first_available - 1)
    stale = Stream(stub)
    await stale.send(too_old)
    error = await stale.error()
    assert error.code() == grpc.StatusCode.OUT_OF_RANGE
    assert error.details() == (
        f"broadcast from {service.first_available - 1} is not available, "
        f"last available: {service.first_available}"
    )


async def test_x_token_is_required_when_configured() -> None:
    chain = Chain()
    service = GeyserService(chain, x_token="s3cret")
    port = await service.start("127.0.0.1", 0)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.GeyserStub(channel)
            for metadata in (None, (("x-token", "wrong"),)):
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await stub.GetSlot(pb.GetSlotRequest(), metadata=metadata)
                assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
                stream = Stream(stub, metadata=metadata)
                await stream.send(sync_request())
                error = await stream.error()
                assert error.code() == grpc.StatusCode.UNAUTHENTICATED
            good = (("x-token", "s3cret"),)
            assert (await stub.GetSlot(pb.GetSlotRequest(), metadata=good)).slot == 0
            stream = Stream(stub, metadata=good)
            await stream.subscribe(sync_request())
            await stream.until_slot(chain.advance_slot())
    finally:
        await service.stop(grace=0)


async def test_ping_pong_and_server_keepalive(geyser) -> None:
    chain, service, stub = geyser
    stream = Stream(stub)
    await stream.subscribe(sync_request())
    await stream.until_slot(chain.advance_slot())
    await stream.send(pb.SubscribeRequest(ping=pb.SubscribeRequestPing(id=42)))
    kinds = []
    while "pong" not in kinds or "ping" not in kinds:  # the server pings every 0.3 s here
        update = await stream.read()
        kinds.append(update.WhichOneof("update_oneof"))
        if kinds[-1] == "pong":
            assert update.pong.id == 42 and update.filters == []
    # a ping-only request leaves the subscription as it was
    updates = await stream.until_slot(chain.advance_slot())
    assert [u.filters for u in updates if u.HasField("slot")][-1] == ["clock"]


async def test_new_request_on_the_stream_replaces_the_filters(geyser) -> None:
    chain, service, stub = geyser
    payer, alice, bob = funded(chain), Keypair(), Keypair()
    chain.advance_slot()
    first = sync_request()
    first.accounts["alice"].account.append(str(alice.pubkey()))
    stream = Stream(stub)
    await stream.subscribe(first)
    await stream.until_slot(chain.advance_slot())
    chain.execute(transfer_tx(payer, alice.pubkey(), SOL, blockhash(chain)))
    updates = await stream.until_slot(chain.advance_slot())
    assert [k for _, k, _ in summary(updates)] == [str(alice.pubkey())]

    second = sync_request()
    second.accounts["bob"].account.append(str(bob.pubkey()))
    await stream.subscribe(second)
    await stream.until_slot(chain.advance_slot())
    chain.execute(transfer_tx(payer, alice.pubkey(), SOL, blockhash(chain)))
    chain.execute(transfer_tx(payer, bob.pubkey(), SOL, blockhash(chain)))
    updates = await stream.until_slot(chain.advance_slot())
    assert summary(updates) == [("account", str(bob.pubkey()), ["bob"])]


async def test_unary_methods_answer_from_the_chain(geyser) -> None:
    chain, service, stub = geyser
    chain.advance_slot(5)
    for level, name in ((pb.PROCESSED, "processed"), (pb.CONFIRMED, "confirmed")):
        expected = chain.commitment_slot(name)
        assert (await stub.GetSlot(pb.GetSlotRequest(commitment=level))).slot == expected
        height = await stub.GetBlockHeight(pb.GetBlockHeightRequest(commitment=level))
        assert height.block_height == expected
    assert (await stub.GetSlot(pb.GetSlotRequest())).slot == chain.commitment_slot("finalized")
    latest = await stub.GetLatestBlockhash(pb.GetLatestBlockhashRequest(commitment=pb.PROCESSED))
    blockhash_now, last_valid = chain.latest_blockhash("processed")
    assert (latest.blockhash, latest.last_valid_block_height, latest.slot) == (
        str(blockhash_now),
        last_valid,
        chain.slot,
    )
    valid = await stub.IsBlockhashValid(pb.IsBlockhashValidRequest(blockhash=latest.blockhash))
    assert valid.valid and valid.slot == chain.commitment_slot("finalized")
    for bogus in ("not-a-hash", str(Keypair().pubkey())):
        answer = await stub.IsBlockhashValid(pb.IsBlockhashValidRequest(blockhash=bogus))
        assert not answer.valid
    assert (await stub.Ping(pb.PingRequest(count=9))).count == 9
    version = json.loads((await stub.GetVersion(pb.GetVersionRequest())).version)
    assert version["version"]["package"] == "localnet-geyser"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetSlot(pb.GetSlotRequest(commitment=7))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.SubscribeGossip(pb.SubscribeGossipRequest()).read()
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize(
    ("mutate", "details"),
    [
        (
            lambda r: r.accounts["a"].account.append("not base58 0OIl"),
            "failed to create filter: Invalid Base58 string",
        ),
        (
            lambda r: r.transactions["t"].account_include.append("abc"),
            "failed to create filter: String is the wrong size",
        ),
        (
            lambda r: setattr(r, "commitment", 9),
            "failed to create filter: failed to create CommitmentLevel from 9",
        ),
        (
            lambda r: r.accounts["x" * 129].SetInParent(),
            "failed to create filter: oversized filter name (max allowed size 128), found 129",
        ),
    ],
)
async def test_malformed_request_is_invalid_argument_and_server_keeps_serving(
    geyser, mutate, details
) -> None:
    chain, service, stub = geyser
    bad = Stream(stub)
    request = sync_request()
    mutate(request)
    await bad.send(request)
    error = await bad.error()
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, details)

    good = Stream(stub)
    await good.subscribe(sync_request())
    await good.until_slot(chain.advance_slot())
    assert service.subscriber_count == 1


async def test_slow_subscriber_is_disconnected_not_buffered() -> None:
    chain = Chain()
    service = GeyserService(chain, max_lag=200)
    port = await service.start("127.0.0.1", 0)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.GeyserStub(channel)
            stream = Stream(stub)
            request = sync_request()
            request.accounts["all"].SetInParent()
            request.transactions["all"].SetInParent()
            await stream.subscribe(request)
            await stream.until_slot(chain.advance_slot())
            payer = funded(chain, 1_000 * SOL)
            # The client stops reading; the server must cut it off rather than queue.
            for _ in range(1_500):
                chain.execute(transfer_tx(payer, Keypair().pubkey(), 1_000_000, blockhash(chain)))
                await asyncio.sleep(0)
            error = await stream.error()
            assert error.code() == grpc.StatusCode.INTERNAL
            assert error.details() == "lagged to send an update"
            assert service.subscriber_count == 0
    finally:
        await service.stop(grace=0)
