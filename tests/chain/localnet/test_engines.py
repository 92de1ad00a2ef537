"""Jito, bloXroute and NextBlock on the localnet, over real HTTP, with the clock stepped by hand."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from apps.chain.localnet.b58 import b58encode
from apps.chain.localnet.chain import Chain
from apps.chain.localnet.engines import BlockEnginesApp, EngineFaults, JitoEngine
from apps.chain.localnet.engines_relay import BloxrouteEngine, NextBlockEngine
from apps.chain.localnet.rpc import JsonRpcApp
from tests.chain.localnet import SOL, b64, transfer_tx
from tests.servers import serve_asgi

JITO_TIP = Pubkey.from_string(JitoEngine.tip_accounts[3])
BLOXROUTE_TIP = Pubkey.from_string(BloxrouteEngine.tip_accounts[0])
NEXTBLOCK_TIP = Pubkey.from_string(NextBlockEngine.tip_accounts[0])
NO_TIP = "Bundles must write lock at least one tip account to be eligible for the auction."


class Net:
    def __init__(self, chain: Chain, app: BlockEnginesApp, engines: str, rpc: str) -> None:
        self.chain, self.app, self.engines, self.rpc = chain, app, engines, rpc
        self.http = httpx.Client(timeout=10)

    def jito(
        self, method: str, rpc_params: list[Any], path: str = "bundles", **kw: Any
    ) -> httpx.Response:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": rpc_params}
        return self.http.post(f"{self.engines}/jito/api/v1/{path}", json=body, **kw)

    def jito_result(self, method: str, params: list[Any]) -> Any:
        response = self.jito(method, params)
        assert response.status_code == 200, response.text
        return response.json()["result"]

    def post(self, engine: str, path: str, body: Any, **kw: Any) -> httpx.Response:
        return self.http.post(f"{self.engines}/{engine}/api/v2/{path}", json=body, **kw)

    def signature_status(self, signature: str) -> Any:
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "getSignatureStatuses",
            "params": [[signature]],
        }
        return self.http.post(self.rpc, json=body).json()["result"]["value"][0]


@pytest.fixture(scope="module")
def net() -> Iterator[Net]:
    chain = Chain()
    app = BlockEnginesApp(chain)
    with serve_asgi(app) as engines, serve_asgi(JsonRpcApp(chain)) as rpc:
        handle = Net(chain, app, engines, rpc)
        yield handle
        handle.http.close()
    app.close()


@pytest.fixture(autouse=True)
def healthy(net: Net) -> Iterator[None]:
    for engine in net.app.engines.values():
        engine.faults = EngineFaults()
        engine.auth = None
    yield
    for engine in net.app.engines.values():
        engine.faults = EngineFaults()
        engine.auth = None


@pytest.fixture
def payer(net: Net) -> Keypair:
    keypair = Keypair()
    net.chain.airdrop(keypair.pubkey(), 10 * SOL)
    return keypair


def _bh(net: Net) -> Hash:
    return net.chain.latest_blockhash("processed")[0]


def tipped(
    payer: Keypair, to: Pubkey, lamports: int, bh: Hash, tip_to: Pubkey, tip: int
) -> VersionedTransaction:
    instructions = [
        transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=lamports)),
        transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=tip_to, lamports=tip)),
    ]
    return VersionedTransaction(
        Message.new_with_blockhash(instructions, payer.pubkey(), bh), [payer]
    )


def bundle_id(txs: list[VersionedTransaction]) -> str:
    return hashlib.sha256(",".join(str(tx.signatures[0]) for tx in txs).encode()).hexdigest()


# ---- Jito: landing and statuses ---------------------------------------------------------


def test_jito_bundle_lands_at_next_slot_with_statuses(net: Net, payer: Keypair) -> None:
    to = Pubkey.new_unique()
    bh = _bh(net)
    txs = [transfer_tx(payer, to, SOL, bh), tipped(payer, to, SOL, bh, JITO_TIP, 10_000)]
    tip_before = net.chain.get_balance(JITO_TIP)

    bid = net.jito_result("sendBundle", [[b64(tx) for tx in txs], {"encoding": "base64"}])

    assert bid == bundle_id(txs)
    assert net.jito_result("getBundleStatuses", [[bid]])["value"] == [None]
    inflight = net.jito_result("getInflightBundleStatuses", [[bid]])
    assert inflight["value"] == [{"bundle_id": bid, "status": "Pending", "landed_slot": None}]
    assert net.chain.get_account(to) is None  # accepted is not landed

    slot = net.chain.advance_slot()

    statuses = net.jito_result("getBundleStatuses", [[bid]])
    assert statuses["context"]["slot"] == slot
    assert statuses["value"] == [
        {
            "bundle_id": bid,
            "transactions": [str(tx.signatures[0]) for tx in txs],
            "slot": slot,
            "confirmation_status": "processed",
            "err": {"Ok": None},
        }
    ]
    inflight = net.jito_result("getInflightBundleStatuses", [[bid, "0" * 64]])["value"]
    assert inflight == [
        {"bundle_id": bid, "status": "Landed", "landed_slot": slot},
        {"bundle_id": "0" * 64, "status": "Invalid", "landed_slot": None},
    ]
    assert net.chain.get_balance(to) == 2 * SOL
    assert net.chain.get_balance(JITO_TIP) == tip_before + 10_000
    assert net.signature_status(str(txs[0].signatures[0]))["slot"] == slot
    net.chain.advance_slot()
    value = net.jito_result("getBundleStatuses", [[bid]])["value"][0]
    assert value["confirmation_status"] == "confirmed"


def test_jito_base58_is_the_default_encoding(net: Net, payer: Keypair) -> None:
    tx = tipped(payer, Pubkey.new_unique(), SOL, _bh(net), JITO_TIP, 1_000)
    bid = net.jito_result("sendBundle", [[b58encode(bytes(tx))]])
    net.chain.advance_slot()
    assert net.jito_result("getInflightBundleStatuses", [[bid]])["value"][0]["status"] == "Landed"


def test_jito_bundle_whose_second_tx_fails_leaves_no_trace(net: Net, payer: Keypair) -> None:
    to = Pubkey.new_unique()
    bh = _bh(net)
    txs = [
        transfer_tx(payer, to, SOL, bh),
        transfer_tx(payer, to, 1000 * SOL, bh),  # overdraws
        tipped(payer, to, 1, bh, JITO_TIP, 5_000),
    ]
    before = net.chain.get_balance(payer.pubkey())
    bid = net.jito_result("sendBundle", [[b64(tx) for tx in txs], {"encoding": "base64"}])
    net.chain.advance_slot()

    assert net.jito_result("getInflightBundleStatuses", [[bid]])["value"][0]["status"] == "Failed"
    assert net.jito_result("getBundleStatuses", [[bid]])["value"] == [None]
    assert net.chain.get_balance(payer.pubkey()) == before
    assert net.chain.get_account(to) is None
    for tx in txs:
        assert net.signature_status(str(tx.signatures[0])) is None
        assert net.chain.transaction(tx.signatures[0]) is None


def test_jito_send_transaction_bundle_only(net: Net, payer: Keypair) -> None:
    to = Pubkey.new_unique()
    tx = tipped(payer, to, SOL, _bh(net), JITO_TIP, 2_000)
    response = net.jito(
        "sendTransaction",
        [b64(tx), {"encoding": "base64"}],
        path="transactions",
        params={"bundleOnly": "true"},
    )
    assert response.status_code == 200
    assert response.json()["result"] == str(tx.signatures[0])
    assert response.headers["x-bundle-id"] == bundle_id([tx])
    net.chain.advance_slot()
    assert net.chain.get_balance(to) == SOL
    statuses = net.jito_result("getBundleStatuses", [[bundle_id([tx])]])["value"]
    assert statuses[0]["transactions"] == [str(tx.signatures[0])]


def test_tip_accounts_are_jitos_eight(net: Net) -> None:
    assert net.jito_result("getTipAccounts", []) == list(JitoEngine.tip_accounts)
    assert len(set(JitoEngine.tip_accounts)) == 8


# ---- Jito: rejections ----------------------------------------------------------------


def _jito_error(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["jsonrpc"] == "2.0" and "result" not in body
    assert body["error"]["data"] is None
    return body["error"]


def test_jito_rejects_untipped_misdirected_and_too_small_tips(net: Net, payer: Keypair) -> None:
    bh = _bh(net)
    to = Pubkey.new_unique()
    cases = [
        [transfer_tx(payer, to, SOL, bh)],  # no tip at all
        [tipped(payer, to, 1, bh, BLOXROUTE_TIP, 10**6)],  # another engine's tip account
        [tipped(payer, to, 2, bh, JITO_TIP, 999)],  # below the 1,000-lamport minimum
    ]
    for txs in cases:
        error = _jito_error(
            net.jito("sendBundle", [[b64(tx) for tx in txs], {"encoding": "base64"}])
        )
        assert error == {"code": -32602, "message": NO_TIP, "data": None}
    net.chain.advance_slot()
    assert net.chain.get_account(to) is None


def test_jito_refuses_six_transactions(net: Net, payer: Keypair) -> None:
    bh = _bh(net)
    txs = [tipped(payer, Pubkey.new_unique(), i + 1, bh, JITO_TIP, 1_000) for i in range(6)]
    error = _jito_error(net.jito("sendBundle", [[b64(tx) for tx in txs], {"encoding": "base64"}]))
    assert error["code"] == -32602
    assert "exceeded maximum number of transactions" in error["message"]


def test_jito_bad_input_gets_jsonrpc_errors_and_keeps_serving(net: Net, payer: Keypair) -> None:
    url = f"{net.engines}/jito/api/v1/bundles"
    garbage = net.http.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert _jito_error(garbage)["code"] == -32700
    assert _jito_error(net.jito("sendBundles", []))["code"] == -32601
    wrong_type = _jito_error(net.jito("sendBundle", ["not-a-list"]))
    assert wrong_type["code"] == -32602 and "expected a sequence" in wrong_type["message"]
    undecodable = _jito_error(net.jito("sendBundle", [["AAAA"], {"encoding": "base64"}]))
    assert undecodable == {
        "code": -32602,
        "message": "transaction #0 could not be decoded",
        "data": None,
    }
    bad_b58 = _jito_error(net.jito("sendBundle", [["0OIl"]]))
    assert bad_b58["message"] == "transaction #0 could not be decoded"
    bad_encoding = _jito_error(net.jito("sendBundle", [[], {"encoding": "hex"}]))
    assert bad_encoding["code"] == -32602
    ids = _jito_error(net.jito("getBundleStatuses", [[1, 2]]))
    assert ids["code"] == -32602 and "expected a string" in ids["message"]
    too_many = _jito_error(net.jito("getInflightBundleStatuses", [["a"] * 6]))
    assert too_many["code"] == -32602
    plain = net.http.post(url, content=b"x", headers={"content-type": "text/plain"})
    assert _jito_error(plain)["message"] == "Invalid content type"
    undecodable_tx = _jito_error(net.jito("sendTransaction", ["@@"], path="transactions"))
    assert undecodable_tx["code"] == -32602
    assert net.http.get(url).status_code == 405
    assert net.http.post(f"{net.engines}/jito/api/v1/nothing", json={}).status_code == 404
    # A bad signature and an expired blockhash are caught at the door too.
    bh = _bh(net)
    forged = VersionedTransaction.populate(
        tipped(payer, Pubkey.new_unique(), 1, bh, JITO_TIP, 1_000).message,
        [Keypair().sign_message(b"x")],
    )
    assert (
        "is invalid"
        in _jito_error(net.jito("sendBundle", [[b64(forged)], {"encoding": "base64"}]))["message"]
    )
    assert net.jito_result("getTipAccounts", []) == list(JitoEngine.tip_accounts)


# ---- faults ----------------------------------------------------------------------------


def test_dropped_bundle_gets_an_id_but_never_lands(net: Net, payer: Keypair) -> None:
    net.app.engine("jito").faults = EngineFaults(drop_share=1.0)
    to = Pubkey.new_unique()
    tx = tipped(payer, to, SOL, _bh(net), JITO_TIP, 1_000)
    bid = net.jito_result("sendBundle", [[b64(tx)], {"encoding": "base64"}])
    assert bid == bundle_id([tx])
    net.chain.advance_slot(3)
    assert net.jito_result("getBundleStatuses", [[bid]])["value"] == [None]
    assert net.jito_result("getInflightBundleStatuses", [[bid]])["value"][0]["status"] == "Pending"
    assert net.chain.get_account(to) is None
    assert net.signature_status(str(tx.signatures[0])) is None


def test_drop_share_is_deterministic_per_seed() -> None:
    ids = [hashlib.sha256(i.to_bytes(2, "big")).hexdigest() for i in range(400)]
    half = EngineFaults(drop_share=0.5, seed=7)
    dropped = [half.drops(i) for i in ids]
    assert dropped == [EngineFaults(drop_share=0.5, seed=7).drops(i) for i in ids]
    assert dropped != [EngineFaults(drop_share=0.5, seed=8).drops(i) for i in ids]
    assert 150 < sum(dropped) < 250
    assert not any(EngineFaults(drop_share=0.0).drops(i) for i in ids)


def test_latency_fault_delays_only_that_engine(net: Net) -> None:
    net.app.engine("jito").faults = EngineFaults(latency_ms=300)
    started = time.monotonic()
    assert net.jito_result("getTipAccounts", [])
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert net.post("bloxroute", "submit", {}).status_code == 400
    assert time.monotonic() - started < 0.3


def test_rate_limited_engines_answer_429_in_their_shape(net: Net) -> None:
    for engine in net.app.engines.values():
        engine.faults = EngineFaults(rate_limited=True)
    jito = net.jito("getTipAccounts", [])
    assert jito.status_code == 429
    assert jito.json() == {
        "jsonrpc": "2.0",
        "error": {
            "code": -32097,
            "message": "Network congested. Endpoint is globally rate limited.",
            "data": None,
        },
        "id": None,
    }
    for name in ("bloxroute", "nextblock"):
        response = net.post(name, "submit", {})
        assert response.status_code == 429
        assert response.json()["code"] == 8 and response.json()["details"] == []


def test_down_engine_answers_503_and_closes_while_others_serve(net: Net) -> None:
    net.app.engine("jito").faults = EngineFaults(down=True)
    response = net.jito("getTipAccounts", [])
    assert response.status_code == 503
    assert response.headers["connection"] == "close"
    assert net.post("nextblock", "submit", {}).status_code == 400  # alive, just a bad request
    net.app.engine("jito").faults = EngineFaults()
    assert net.jito_result("getTipAccounts", [])


# ---- auth -----------------------------------------------------------------------------


def test_auth_headers_and_uuid(net: Net) -> None:
    net.app.engine("jito").auth = "jito-uuid"
    net.app.engine("bloxroute").auth = "bx-auth"
    net.app.engine("nextblock").auth = "nb-key"
    assert _jito_error(net.jito("getTipAccounts", []), 401)["code"] == -32600
    assert net.jito("getTipAccounts", [], headers={"x-jito-auth": "wrong"}).status_code == 401
    assert net.jito("getTipAccounts", [], headers={"x-jito-auth": "jito-uuid"}).status_code == 200
    assert net.jito("getTipAccounts", [], params={"uuid": "jito-uuid"}).status_code == 200
    for name, key in (("bloxroute", "bx-auth"), ("nextblock", "nb-key")):
        denied = net.post(name, "submit", {})
        assert denied.status_code == 401 and denied.json()["code"] == 16
        # Past auth the (empty) request itself is what is wrong.
        assert net.post(name, "submit", {}, headers={"authorization": key}).status_code == 400


# ---- bloXroute -------------------------------------------------------------------------


def test_bloxroute_submit_lands_and_requires_its_tip(net: Net, payer: Keypair) -> None:
    to = Pubkey.new_unique()
    bh = _bh(net)
    tx = tipped(payer, to, SOL, bh, BLOXROUTE_TIP, 1_000_000)
    response = net.post(
        "bloxroute", "submit", {"transaction": {"content": b64(tx)}, "skipPreFlight": True}
    )
    assert response.status_code == 200
    assert response.json() == {"signature": str(tx.signatures[0])}
    for wrong in (
        tipped(payer, to, 1, bh, JITO_TIP, 1_000_000),
        tipped(payer, to, 2, bh, BLOXROUTE_TIP, 999_999),
    ):
        rejected = net.post("bloxroute", "submit", {"transaction": {"content": b64(wrong)}})
        assert rejected.status_code == 400
        assert rejected.json()["code"] == 3 and "tip" in rejected.json()["message"]
    net.chain.advance_slot()
    assert net.chain.get_balance(to) == SOL
    assert net.signature_status(str(tx.signatures[0]))["err"] is None


def test_bloxroute_bundle_is_atomic_and_limited_to_four(net: Net, payer: Keypair) -> None:
    to = Pubkey.new_unique()
    bh = _bh(net)
    failing = [
        transfer_tx(payer, to, SOL, bh),
        tipped(payer, to, 1000 * SOL, bh, BLOXROUTE_TIP, 10**6),
    ]
    body = {"entries": [{"transaction": {"content": b64(tx)}} for tx in failing], "useBundle": True}
    response = net.post("bloxroute", "submit-batch", body)
    assert response.status_code == 200
    assert response.json() == {
        "transactions": [
            {"signature": str(tx.signatures[0]), "error": "", "submitted": True} for tx in failing
        ]
    }
    net.chain.advance_slot()
    assert net.chain.get_account(to) is None
    assert net.app.engine("bloxroute").submission(bundle_id(failing)).state == "Failed"

    funded = Pubkey.new_unique()
    net.chain.airdrop(funded, SOL)
    five = [tipped(payer, funded, i + 1, bh, BLOXROUTE_TIP, 10**6) for i in range(5)]
    too_many = {
        "entries": [{"transaction": {"content": b64(tx)}} for tx in five],
        "useBundle": True,
    }
    refused = net.post("bloxroute", "submit-batch", too_many)
    assert refused.status_code == 400 and refused.json()["code"] == 3
    # Without useBundle five independent, tipped entries are fine; a bad one fails alone.
    loose = {"entries": [*too_many["entries"], {"transaction": {"content": "!!"}}]}
    results = net.post("bloxroute", "submit-batch", loose).json()["transactions"]
    assert [r["submitted"] for r in results] == [True] * 5 + [False]
    assert results[5]["error"] and results[5]["signature"] == ""
    net.chain.advance_slot()
    assert net.chain.get_balance(funded) == SOL + 15


def test_bloxroute_bad_input(net: Net) -> None:
    url = f"{net.engines}/bloxroute/api/v2/submit"
    for body in (b"{oops", b"[]", b'{"transaction": 5}', b'{"transaction": {"content": "AAAA"}}'):
        response = net.http.post(url, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, body
        assert (
            set(response.json()) == {"code", "message", "details"} and response.json()["code"] == 3
        )
    assert net.post("bloxroute", "submit-batch", {"entries": []}).status_code == 400
    assert (
        net.post("bloxroute", "submit-batch", {"entries": [], "useBundle": "yes"}).status_code
        == 400
    )


# ---- NextBlock -------------------------------------------------------------------------


def test_nextblock_submit_and_atomic_batch(net: Net, payer: Keypair) -> None:
    to = Pubkey.new_unique()
    bh = _bh(net)
    single = tipped(payer, to, SOL, bh, NEXTBLOCK_TIP, 1_000_000)
    response = net.post(
        "nextblock",
        "submit",
        {"transaction": {"content": b64(single)}, "frontRunningProtection": False},
    )
    assert response.status_code == 200
    assert response.json()["signature"] == str(single.signatures[0]) and response.json()["uuid"]
    bundle = [
        transfer_tx(payer, to, 2 * SOL, bh),
        tipped(payer, to, 1, bh, NEXTBLOCK_TIP, 1_000_000),
    ]
    batch = net.post(
        "nextblock",
        "submit-batch",
        {"entries": [{"transaction": {"content": b64(tx)}} for tx in bundle]},
    )
    assert batch.status_code == 200 and batch.json() == {"signature": str(bundle[0].signatures[0])}
    jito_tipped = [tipped(payer, to, 3, bh, JITO_TIP, 1_000_000)]
    wrong = net.post(
        "nextblock",
        "submit-batch",
        {"entries": [{"transaction": {"content": b64(tx)}} for tx in jito_tipped]},
    )
    assert wrong.status_code == 400 and wrong.json()["code"] == 3
    net.chain.advance_slot()
    assert net.chain.get_balance(to) == 3 * SOL + 1
    landed = net.app.engine("nextblock").submission(bundle_id(bundle))
    assert landed.state == "Landed" and landed.landed_slot == net.chain.slot


def test_same_bundle_through_two_engines_lands_once(net: Net, payer: Keypair) -> None:
    to = Pubkey.new_unique()
    bh = _bh(net)
    txs = [
        tipped(payer, to, SOL, bh, JITO_TIP, 1_000),
        tipped(payer, to, 1, bh, NEXTBLOCK_TIP, 1_000_000),
    ]
    assert net.jito_result("sendBundle", [[b64(tx) for tx in txs], {"encoding": "base64"}])
    entries = [{"transaction": {"content": b64(tx)}} for tx in txs]
    assert net.post("nextblock", "submit-batch", {"entries": entries}).status_code == 200
    net.chain.advance_slot()
    assert net.chain.get_balance(to) == SOL + 1
    states = {
        name: net.app.engine(name).submission(bundle_id(txs)).state
        for name in ("jito", "nextblock")
    }
    assert states == {"jito": "Landed", "nextblock": "Failed"}
    # Once landed, a resubmission is refused at the door.
    again = net.jito("sendBundle", [[b64(tx) for tx in txs], {"encoding": "base64"}])
    assert _jito_error(again)["message"] == "bundle contains an already processed transaction"
