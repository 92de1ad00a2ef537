"""The localnet's WebSocket pubsub against real clients: `websockets` and solana-py.

Each test serves a fresh PubSubApp under uvicorn on a free port, over a chain whose clock
the test steps by hand (finality after FINALITY slots, so `finalized` is quick to reach).
"Nothing was sent" is checked with a barrier: a getVersion request whose reply must be
the next frame, which works because the server handles events and frames in order.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
import zstandard
from solana.rpc.commitment import Confirmed, Processed
from solana.rpc.websocket_api import SolanaWsClient
from solders.account import Account
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.rpc.config import RpcTransactionLogsFilterMentions
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from apps.chain.localnet.b58 import b58decode, b58encode
from apps.chain.localnet.chain import Chain
from apps.chain.localnet.pubsub import PubSubApp
from apps.chain.localnet.records import SYSTEM_PROGRAM
from apps.chain.localnet.server import bind_socket
from tests.chain.localnet import SOL, transfer_tx

FINALITY = 4
RENT_EPOCH = "any u64"


@dataclass
class Served:
    app: PubSubApp
    chain: Chain
    url: str
    port: int
    loop: asyncio.AbstractEventLoop

    def close_app(self) -> None:
        asyncio.run_coroutine_threadsafe(self.app.close(), self.loop).result(5)


@contextmanager
def serve_pubsub(chain: Chain, **limits: int) -> Iterator[Served]:
    app = PubSubApp(chain, **limits)
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", loop="none")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    loop = asyncio.new_event_loop()
    thread = threading.Thread(
        target=loop.run_until_complete, args=(server.serve(sockets=[sock]),), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "pubsub did not start"
        time.sleep(0.005)
    served = Served(app, chain, f"ws://127.0.0.1:{port}", port, loop)
    try:
        yield served
    finally:
        served.close_app()
        server.should_exit = True
        thread.join(10)
        loop.close()
        sock.close()
        # A stopped pubsub leaves nothing hooked into the chain.
        assert chain.slot_listeners == [] and chain.transaction_listeners == []


@pytest.fixture
def chain() -> Chain:
    return Chain(finality_depth=FINALITY)


@pytest.fixture
def served(chain: Chain) -> Iterator[Served]:
    with serve_pubsub(chain) as handle:
        yield handle


async def next_message(ws: ClientConnection, timeout: float = 3.0) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def call(ws: ClientConnection, method: str, params: Any = None, rid: Any = 1) -> Any:
    request: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        request["params"] = params
    await ws.send(json.dumps(request))
    reply = await next_message(ws)
    assert reply.get("id") == rid, reply
    return reply


async def subscribe(ws: ClientConnection, method: str, params: Any = None) -> int:
    reply = await call(ws, method, params)
    assert set(reply) == {"jsonrpc", "result", "id"}, reply
    return reply["result"]


async def assert_nothing_sent(ws: ClientConnection) -> None:
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": "barrier", "method": "getVersion"}))
    reply = await next_message(ws)
    assert reply.get("id") == "barrier", f"unexpected frame: {reply}"


async def eventually(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


def notification(method: str, sub: int, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": {"result": result, "subscription": sub}}


def error(code: int, message: str, rid: Any = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": rid}


def funded(chain: Chain, lamports: int = 10 * SOL) -> Keypair:
    keypair = Keypair()
    chain.airdrop(keypair.pubkey(), lamports)
    return keypair


def system_account_json(lamports: int, data: Any) -> dict[str, Any]:
    return {
        "data": data,
        "executable": False,
        "lamports": lamports,
        "owner": str(SYSTEM_PROGRAM),
        "rentEpoch": RENT_EPOCH,
        "space": 0,
    }


async def account_message(ws: ClientConnection) -> Any:
    """The next frame, its rentEpoch checked for type then pinned (encoding.py owns its value)."""
    message = await next_message(ws)
    value = message["params"]["result"]["value"]
    assert isinstance(value["rentEpoch"], int) and 0 <= value["rentEpoch"] < 2**64
    value["rentEpoch"] = RENT_EPOCH
    return message


# ---- accountSubscribe ----------------------------------------------------------------


async def test_account__processed_write_notifies_that_account_only(served: Served) -> None:
    chain, watched, other = served.chain, Keypair().pubkey(), Keypair().pubkey()
    async with connect(served.url) as ws:
        params = [str(watched), {"commitment": "processed", "encoding": "base64"}]
        sub = await subscribe(ws, "accountSubscribe", params)

        await asyncio.to_thread(chain.airdrop, other, SOL)  # the chain calls us from a thread
        await assert_nothing_sent(ws)
        await asyncio.to_thread(chain.airdrop, watched, 2 * SOL)

        value = system_account_json(2 * SOL, ["", "base64"])
        expected = notification(
            "accountNotification", sub, {"context": {"slot": 0}, "value": value}
        )
        assert await account_message(ws) == expected
        await assert_nothing_sent(ws)


@pytest.mark.parametrize(
    ("config", "slots_needed", "data"),
    [
        ({"commitment": "confirmed"}, 1, ["", "base64"]),
        ({"commitment": "finalized"}, FINALITY, ["", "base64"]),
        (None, FINALITY, ""),  # Agave's defaults: finalized, legacy binary (bare base58)
    ],
    ids=["confirmed", "finalized", "defaults"],
)
async def test_account__commitment_waits_for_the_writing_slot(
    served: Served, config: dict[str, Any] | None, slots_needed: int, data: Any
) -> None:
    chain, watched = served.chain, Keypair().pubkey()
    chain.advance_slot(2)
    async with connect(served.url) as ws:
        params: list[Any] = [str(watched)]
        if config is not None:
            params.append({**config, "encoding": "base64"})
        sub = await subscribe(ws, "accountSubscribe", params)
        chain.airdrop(watched, SOL)
        chain.airdrop(watched, SOL)  # two writes in one slot: one value, the last
        landed = chain.slot

        chain.advance_slot(slots_needed - 1)
        await assert_nothing_sent(ws)
        chain.advance_slot()

        value = system_account_json(2 * SOL, data)
        expected = {"context": {"slot": landed}, "value": value}
        assert await account_message(ws) == notification("accountNotification", sub, expected)
        chain.advance_slot(FINALITY)
        await assert_nothing_sent(ws)


@pytest.mark.parametrize("encoding", ["base58", "base64", "base64+zstd", "jsonParsed"])
async def test_account__encodings_carry_the_account_data(served: Served, encoding: str) -> None:
    chain, key = served.chain, Keypair().pubkey()
    data = bytes(range(200))  # beyond base58's 128-byte getAccountInfo limit on purpose
    chain.set_account(key, Account(lamports=SOL, data=data, owner=SYSTEM_PROGRAM, executable=False))
    async with connect(served.url) as ws:
        params = [str(key), {"commitment": "processed", "encoding": encoding}]
        await subscribe(ws, "accountSubscribe", params)
        chain.airdrop(key, SOL)

        value = (await next_message(ws))["params"]["result"]["value"]
        assert (value["lamports"], value["space"]) == (2 * SOL, 200)
        text, label = value["data"]
        decoded = {
            "base58": lambda: b58decode(text),
            "base64": lambda: base64.b64decode(text),
            "base64+zstd": lambda: (
                zstandard.ZstdDecompressor().decompressobj().decompress(base64.b64decode(text))
            ),
            "jsonParsed": lambda: base64.b64decode(text),  # unparseable data falls back
        }[encoding]()
        assert decoded == data
        assert label == ("base64" if encoding == "jsonParsed" else encoding)


async def test_account__data_slice(served: Served) -> None:
    chain, key = served.chain, Keypair().pubkey()
    data = bytes(range(64))
    chain.set_account(key, Account(lamports=SOL, data=data, owner=SYSTEM_PROGRAM, executable=False))
    async with connect(served.url) as ws:
        config = {"commitment": "processed", "dataSlice": {"offset": 10, "length": 4}}
        await subscribe(ws, "accountSubscribe", [str(key), config])
        chain.airdrop(key, SOL)

        value = (await next_message(ws))["params"]["result"]["value"]
        assert value["data"] == b58encode(data[10:14])
        assert value["space"] == 64


async def test_unsubscribe_stops_notifications(served: Served) -> None:
    chain, watched = served.chain, Keypair().pubkey()
    async with connect(served.url) as ws:
        sub = await subscribe(ws, "accountSubscribe", [str(watched), {"commitment": "processed"}])
        assert await call(ws, "accountUnsubscribe", [sub]) == {
            "jsonrpc": "2.0",
            "result": True,
            "id": 1,
        }
        chain.airdrop(watched, SOL)
        await assert_nothing_sent(ws)
        assert await call(ws, "accountUnsubscribe", [sub]) == error(
            -32602, "Invalid subscription id."
        )
    assert served.app.subscription_count == 0


# ---- programSubscribe ----------------------------------------------------------------


async def test_program__filters_pick_the_matching_accounts(served: Served) -> None:
    chain, program = served.chain, Pubkey.new_unique()
    wide, narrow = Keypair().pubkey(), Keypair().pubkey()
    for key, data in ((wide, b"\x01" * 16), (narrow, b"\x02" * 8)):
        chain.set_account(key, Account(lamports=SOL, data=data, owner=program, executable=False))
    async with connect(served.url) as ws:
        memcmp = {"memcmp": {"offset": 2, "bytes": b58encode(b"\x01\x01")}}
        by_bytes = await subscribe(
            ws,
            "programSubscribe",
            [str(program), {"commitment": "processed", "encoding": "base64", "filters": [memcmp]}],
        )
        by_size = await subscribe(
            ws,
            "programSubscribe",
            [str(program), {"commitment": "processed", "filters": [{"dataSize": 8}]}],
        )

        chain.airdrop(Keypair().pubkey(), SOL)  # a system account: not the program's
        chain.airdrop(wide, SOL)
        first = await next_message(ws)
        chain.airdrop(narrow, SOL)
        second = await next_message(ws)
        await assert_nothing_sent(ws)

    assert first["method"] == "programNotification"
    assert first["params"]["subscription"] == by_bytes
    value = first["params"]["result"]["value"]
    assert value["pubkey"] == str(wide)
    assert value["account"]["data"] == [base64.b64encode(b"\x01" * 16).decode(), "base64"]
    assert value["account"]["owner"] == str(program)
    assert second["params"]["subscription"] == by_size
    assert second["params"]["result"]["value"]["pubkey"] == str(narrow)


# ---- signatureSubscribe --------------------------------------------------------------


@pytest.mark.parametrize(
    ("commitment", "slots_needed"),
    [("processed", 0), ("confirmed", 1), ("finalized", FINALITY)],
)
async def test_signature__fires_once_at_its_commitment(
    served: Served, commitment: str, slots_needed: int
) -> None:
    chain = served.chain
    payer = funded(chain)
    tx = transfer_tx(payer, Keypair().pubkey(), SOL, chain.latest_blockhash("processed")[0])
    async with connect(served.url) as ws:
        params = [str(tx.signatures[0]), {"commitment": commitment}]
        sub = await subscribe(ws, "signatureSubscribe", params)
        outcome = await asyncio.to_thread(chain.execute, tx)
        assert outcome.record is not None
        if slots_needed:
            chain.advance_slot(slots_needed - 1)
            await assert_nothing_sent(ws)
            chain.advance_slot()

        result = {"context": {"slot": outcome.record.slot}, "value": {"err": None}}
        assert await next_message(ws) == notification("signatureNotification", sub, result)
        chain.advance_slot(FINALITY)
        await assert_nothing_sent(ws)
        # One notification, then the server forgets the subscription, as Agave does.
        assert (await call(ws, "signatureUnsubscribe", [sub]))["error"]["code"] == -32602


async def test_signature__received_then_confirmed(served: Served) -> None:
    chain = served.chain
    payer = funded(chain)
    tx = transfer_tx(payer, Keypair().pubkey(), SOL, chain.latest_blockhash("processed")[0])
    async with connect(served.url) as ws:
        config = {"commitment": "confirmed", "enableReceivedNotification": True}
        sub = await subscribe(ws, "signatureSubscribe", [str(tx.signatures[0]), config])
        slot = chain.execute(tx).record.slot  # type: ignore[union-attr]

        received = {"context": {"slot": slot}, "value": "receivedSignature"}
        assert await next_message(ws) == notification("signatureNotification", sub, received)
        await assert_nothing_sent(ws)
        chain.advance_slot()
        confirmed = {"context": {"slot": slot}, "value": {"err": None}}
        assert await next_message(ws) == notification("signatureNotification", sub, confirmed)


async def test_signature__already_landed_answers_right_after_the_reply(served: Served) -> None:
    chain = served.chain
    payer = funded(chain, SOL)
    # More than the payer holds: the runtime fails it but charges the fee, so it lands.
    tx = transfer_tx(payer, Keypair().pubkey(), 5 * SOL, chain.latest_blockhash("processed")[0])
    slot = chain.execute(tx).record.slot  # type: ignore[union-attr]
    chain.advance_slot()
    async with connect(served.url) as ws:
        waiting = await subscribe(ws, "signatureSubscribe", [str(tx.signatures[0])])
        await assert_nothing_sent(ws)  # only confirmed so far; finalized is the default
        params = [str(tx.signatures[0]), {"commitment": "confirmed"}]
        sub = await subscribe(ws, "signatureSubscribe", params)
        failed = {"err": {"InstructionError": [0, {"Custom": 1}]}}
        result = {"context": {"slot": slot}, "value": failed}
        assert await next_message(ws) == notification("signatureNotification", sub, result)

        chain.advance_slot(FINALITY - 1)
        deep = {"context": {"slot": slot}, "value": failed}
        assert await next_message(ws) == notification("signatureNotification", waiting, deep)


# ---- slotSubscribe and logsSubscribe -------------------------------------------------


async def test_slot__each_new_slot_with_parent_and_root(served: Served) -> None:
    chain = served.chain
    chain.advance_slot(FINALITY)
    async with connect(served.url) as ws:
        sub = await subscribe(ws, "slotSubscribe")
        chain.advance_slot(2)
        first, second = await next_message(ws), await next_message(ws)
        assert first == notification(
            "slotNotification", sub, {"parent": FINALITY, "root": 1, "slot": FINALITY + 1}
        )
        assert second["params"]["result"] == {
            "parent": FINALITY + 1,
            "root": 2,
            "slot": FINALITY + 2,
        }

        assert (await call(ws, "slotUnsubscribe", [sub]))["result"] is True
        chain.advance_slot()
        await assert_nothing_sent(ws)


async def test_logs__mentions_and_all_filters(served: Served) -> None:
    chain, watched = served.chain, Keypair().pubkey()
    async with connect(served.url) as ws:
        every = await subscribe(ws, "logsSubscribe", ["all", {"commitment": "processed"}])
        mentions = await subscribe(
            ws, "logsSubscribe", [{"mentions": [str(watched)]}, {"commitment": "processed"}]
        )
        elsewhere = chain.airdrop(Keypair().pubkey(), SOL).record
        only = await next_message(ws)
        await assert_nothing_sent(ws)
        mine = chain.airdrop(watched, SOL).record
        both = {
            m["params"]["subscription"]: m for m in [await next_message(ws), await next_message(ws)]
        }

    assert elsewhere is not None and mine is not None
    assert only == notification(
        "logsNotification",
        every,
        {
            "context": {"slot": 0},
            "value": {"signature": str(elsewhere.signature), "err": None, "logs": elsewhere.logs},
        },
    )
    assert elsewhere.logs and "Program 11111111111111111111111111111111 success" in elsewhere.logs
    assert set(both) == {every, mentions}
    assert both[mentions]["params"]["result"]["value"]["signature"] == str(mine.signature)


async def test_logs__confirmed_waits_for_the_next_slot(served: Served) -> None:
    chain = served.chain
    async with connect(served.url) as ws:
        sub = await subscribe(ws, "logsSubscribe", ["allWithVotes", {"commitment": "confirmed"}])
        record = chain.airdrop(Keypair().pubkey(), SOL).record
        await assert_nothing_sent(ws)
        chain.advance_slot()
        message = await next_message(ws)
    assert record is not None
    assert message["params"]["subscription"] == sub
    assert message["params"]["result"]["value"]["signature"] == str(record.signature)


# ---- bad input -----------------------------------------------------------------------

KEY = str(Pubkey.new_unique())
BAD_REQUESTS = [
    ("{not json", error(-32700, "Parse error", None)),
    ("[" * 3000, error(-32700, "Parse error", None)),  # nesting serde_json also refuses
    ("[]", error(-32600, "Invalid request", None)),
    ('{"jsonrpc":"2.0","id":1,"method":"voteSubscribe"}', error(-32601, "Method not found")),
    (
        '{"jsonrpc":"2.0","id":1,"method":"accountSubscribe","params":[]}',
        error(-32602, "`params` should have at least 1 argument(s)"),
    ),
    (
        '{"jsonrpc":"2.0","id":1,"method":"accountSubscribe","params":["nope"]}',
        error(-32602, "Invalid Request: Invalid pubkey provided"),
    ),
    (
        '{"jsonrpc":"2.0","id":1,"method":"accountSubscribe","params":[5]}',
        error(-32602, "Invalid params: invalid type: integer `5`, expected a string."),
    ),
    (
        f'{{"jsonrpc":"2.0","id":1,"method":"accountSubscribe","params":["{KEY}",{{"commitment":"fast"}}]}}',
        error(
            -32602,
            "Invalid params: unknown variant `fast`, expected one of "
            "`processed`, `confirmed`, `finalized`.",
        ),
    ),
    (
        '{"jsonrpc":"2.0","id":1,"method":"signatureSubscribe","params":["abc"]}',
        error(-32602, "Invalid Request: Invalid signature provided"),
    ),
    (
        f'{{"jsonrpc":"2.0","id":1,"method":"logsSubscribe","params":[{{"mentions":["{KEY}","{KEY}"]}}]}}',
        error(-32602, "Invalid Request: Only 1 address supported"),
    ),
    (
        '{"jsonrpc":"2.0","id":1,"method":"logsSubscribe","params":[{"mentions":["x0"]}]}',
        error(-32602, "Invalid Request: Invalid mentions provided"),
    ),
    (
        '{"jsonrpc":"2.0","id":1,"method":"logsSubscribe","params":["votes"]}',
        error(
            -32602,
            "Invalid params: unknown variant `votes`, expected one of "
            "`all`, `allWithVotes`, `mentions`.",
        ),
    ),
    (
        '{"jsonrpc":"2.0","id":1,"method":"slotUnsubscribe","params":["x"]}',
        error(-32602, 'Invalid params: invalid type: string "x", expected u64.'),
    ),
    (
        '{"jsonrpc":"2.0","id":1,"method":"slotSubscribe","params":[1]}',
        error(-32602, "Invalid parameters: No parameters were expected"),
    ),
    (
        f'{{"jsonrpc":"2.0","id":1,"method":"programSubscribe","params":["{KEY}",{{"filters":'
        + json.dumps([{"dataSize": 1}] * 5)
        + "}]}",
        error(-32602, "Invalid params: Too many filters provided; max 4"),
    ),
]


async def test_bad_requests_get_the_validator_errors_and_the_connection_lives(
    served: Served,
) -> None:
    async with connect(served.url) as ws:
        for text, expected in BAD_REQUESTS:
            await ws.send(text)
            assert await next_message(ws) == expected, text
        batch = [
            {"jsonrpc": "2.0", "id": 7, "method": "slotSubscribe"},
            {"jsonrpc": "2.0", "id": 8, "method": "nope"},
        ]
        await ws.send(json.dumps(batch))
        replies = await next_message(ws)
        assert replies == [
            {"jsonrpc": "2.0", "result": 0, "id": 7},
            error(-32601, "Method not found", 8),
        ]
        await ws.send(b'{"jsonrpc":"2.0","id":9,"method":"slotSubscribe"}')  # UTF-8 binary: read
        assert (await next_message(ws))["result"] == 1


@pytest.mark.parametrize(
    ("frame", "code"),
    [(b"\xff\xfe binary", 1007), ("x" * 5000, 1009)],
    ids=["non-utf8-binary", "oversized"],
)
async def test_unreadable_frames_close_that_connection_only(
    served: Served, frame: Any, code: int
) -> None:
    async with connect(served.url) as bystander, connect(served.url, max_size=None) as ws:
        await subscribe(bystander, "slotSubscribe")
        await ws.send(frame)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 3)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == code
        served.chain.advance_slot()
        assert (await next_message(bystander))["method"] == "slotNotification"


async def test_subscription_limits_refuse_then_recover(chain: Chain) -> None:
    with serve_pubsub(chain, max_subscriptions_per_connection=3, max_active_subscriptions=5) as s:
        async with connect(s.url) as first, connect(s.url) as second:
            ids = [await subscribe(first, "slotSubscribe") for _ in range(3)]
            assert await call(first, "slotSubscribe") == error(
                -32603,
                "Internal Error: Subscription refused. Connection subscription limit reached",
            )
            for _ in range(2):
                await subscribe(second, "slotSubscribe")
            assert await call(second, "slotSubscribe") == error(
                -32603, "Internal Error: Subscription refused. Node subscription limit reached"
            )
            assert (await call(first, "slotUnsubscribe", [ids[0]]))["result"] is True
            await subscribe(second, "slotSubscribe")


# ---- slow clients and shutdown -------------------------------------------------------


def _stalled_client(port: int, request: dict[str, Any]) -> socket.socket:
    """A WebSocket client that sends one request and never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101")
    payload, mask = json.dumps(request).encode(), os.urandom(4)
    assert 126 <= len(payload) < 65536  # a 16-bit extended length, masked as a client must
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big") + mask + masked)
    return sock


async def test_slow_client_is_dropped_without_stalling_chain_or_others(chain: Chain) -> None:
    whale = Keypair().pubkey()
    big = Account(lamports=10 * SOL, data=bytes(100_000), owner=SYSTEM_PROGRAM, executable=False)
    chain.set_account(whale, big)
    with serve_pubsub(chain, max_queued_messages=8) as s:
        async with connect(s.url) as healthy:
            await subscribe(healthy, "slotSubscribe")
            request = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "accountSubscribe",
                "params": [str(whale), {"commitment": "processed", "encoding": "base64"}],
            }
            stalled = _stalled_client(s.port, request)
            try:
                deadline = time.monotonic() + 5
                while s.app.subscription_count < 2:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.01)

                started = time.monotonic()
                for _ in range(150):  # ~20 MB of notifications nobody reads
                    chain.airdrop(whale, 1)
                assert time.monotonic() - started < 5  # the chain never waited on the client

                while s.app.connection_count > 1:
                    assert time.monotonic() < deadline + 10, "stalled client was never dropped"
                    await asyncio.sleep(0.02)
                assert s.app.subscription_count == 1
                chain.advance_slot()
                assert (await next_message(healthy))["method"] == "slotNotification"
            finally:
                stalled.close()


async def test_close_removes_listeners_and_disconnects_clients(served: Served) -> None:
    chain = served.chain
    async with connect(served.url) as ws:
        await subscribe(ws, "slotSubscribe")
        assert len(chain.slot_listeners) == 1 and len(chain.transaction_listeners) == 1

        await asyncio.to_thread(served.close_app)

        assert chain.slot_listeners == [] and chain.transaction_listeners == []
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 3)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert chain.airdrop(Keypair().pubkey(), SOL).record is not None  # nothing left to call


# ---- solana-py ----------------------------------------------------------------------


async def test_solana_py_client_reads_every_notification_kind(served: Served) -> None:
    chain, watched = served.chain, Keypair().pubkey()
    payer = funded(chain)
    async with SolanaWsClient(served.url) as client:
        await client.account_subscribe(pubkey=watched, commitment=Processed, encoding="base64")
        await client.logs_subscribe(
            filter_=RpcTransactionLogsFilterMentions(watched), commitment=Processed
        )
        await client.slot_subscribe()
        tx = transfer_tx(payer, watched, 3 * SOL, chain.latest_blockhash("processed")[0])
        await client.signature_subscribe(signature=tx.signatures[0], commitment=Confirmed)

        landed = chain.execute(tx).record
        assert landed is not None
        chain.advance_slot()
        got = {}
        for _ in range(4):
            message = await asyncio.wait_for(client.recv(), 3)
            got[type(message).__name__] = message.result

    assert got["AccountNotification"].value.lamports == 3 * SOL
    assert got["AccountNotification"].context.slot == landed.slot
    assert got["LogsNotification"].value.signature == tx.signatures[0]
    assert got["LogsNotification"].value.logs == landed.logs
    assert got["SlotNotification"].slot == landed.slot + 1
    assert got["SlotNotification"].parent == landed.slot
    assert got["SignatureNotification"].value.err is None
    assert got["SignatureNotification"].context.slot == landed.slot


async def test_solana_py_client_unsubscribes(served: Served) -> None:
    chain, watched = served.chain, Keypair().pubkey()
    async with SolanaWsClient(served.url) as client:
        account = await client.account_subscribe(pubkey=watched, commitment=Processed)
        await client.unsubscribe(account)
        await client.slot_subscribe()
        chain.airdrop(watched, SOL)
        chain.advance_slot()
        message = await asyncio.wait_for(client.recv(), 3)
    assert type(message).__name__ == "SlotNotification"
    await eventually(lambda: served.app.subscription_count == 0)  # the connection took them
