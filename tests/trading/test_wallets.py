"""Custodial wallets: sealing, import formats, user isolation, balances from the localnet,
key rotation, and that no secret ever shows in a response, a log line or the admin."""

from __future__ import annotations

import base64
import json
import logging

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction

from apps.chain.base58 import b58encode
from apps.ingestion.services.api_tokens import api_token_issue
from apps.trading.models import Wallet
from apps.trading.services.wallets import (
    WalletSealError,
    key_id,
    seal,
    unseal,
    wallet_keypair,
)
from config.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

SOL = 1_000_000_000


def _key() -> str:
    return base64.urlsafe_b64encode(Keypair().secret()).decode()  # any 32 random bytes


@pytest.fixture
def client():
    transport = httpx.ASGITransport(app=application)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
def users():
    user_model = get_user_model()
    alice = user_model.objects.create_user("alice", "alice@example.com")
    bob = user_model.objects.create_user("bob", "bob@example.com")
    return (
        {"id": alice.pk, "auth": {"Authorization": f"Bearer {api_token_issue(user=alice).raw}"}},
        {"id": bob.pk, "auth": {"Authorization": f"Bearer {api_token_issue(user=bob).raw}"}},
    )


def _secret_forms(keypair: Keypair) -> list[str]:
    raw = bytes(keypair)
    return [
        b58encode(raw),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        b58encode(raw[:32]),
        base64.b64encode(raw[:32]).decode(),
        json.dumps(list(raw)),
        raw[:32].hex(),
    ]


# ---- sealing ---------------------------------------------------------------------------------


def test_seal__round_trip_and_bound_to_its_wallet():
    keypair = Keypair()
    pubkey = str(keypair.pubkey())
    sealed, sealed_id = seal(bytes(keypair), pubkey)

    assert unseal(sealed, sealed_id, pubkey) == bytes(keypair)
    assert bytes(keypair) not in sealed
    with pytest.raises(WalletSealError) as moved:
        unseal(sealed, sealed_id, str(Keypair().pubkey()))  # the row of another wallet
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(WalletSealError):
        unseal(bytes(tampered), sealed_id, pubkey)
    assert b58encode(bytes(keypair)) not in str(moved.value)


def test_seal__two_seals_of_one_secret_differ():
    keypair = Keypair()
    first, _ = seal(bytes(keypair), str(keypair.pubkey()))
    second, _ = seal(bytes(keypair), str(keypair.pubkey()))

    assert first != second  # a fresh nonce each time


# ---- the API ----------------------------------------------------------------------------------


async def test_generate_and_list__balances_from_chain(client, users, net, platform_rpc):
    alice, _ = users
    created = await client.post("/api/wallets", json={"label": "main"}, headers=alice["auth"])
    pubkey = created.json()["pubkey"]
    net.chain.airdrop(Pubkey.from_string(pubkey), 3 * SOL // 2)
    listed = await client.get("/api/wallets", headers=alice["auth"])

    assert created.status_code == 201
    assert set(created.json()) == {"pubkey", "label", "created_at", "lamports", "sol"}
    body = listed.json()
    assert listed.status_code == 200
    assert [(w["pubkey"], w["label"], w["lamports"], w["sol"]) for w in body["wallets"]] == [
        (pubkey, "main", 3 * SOL // 2, "1.5")
    ]
    assert body["slot"] >= 0


@pytest.mark.parametrize("form", ["base58", "json"])
async def test_import__phantom_and_keygen_formats__signs_for_that_address(
    client, users, form, net, platform_rpc
):
    alice, _ = users
    keypair = Keypair()
    secret = b58encode(bytes(keypair)) if form == "base58" else json.dumps(list(bytes(keypair)))
    response = await client.post(
        "/api/wallets/import", json={"secret_key": secret}, headers=alice["auth"]
    )
    wallet = await Wallet.objects.aget(pubkey=str(keypair.pubkey()))
    signer = wallet_keypair(wallet)
    net.chain.airdrop(signer.pubkey(), SOL)
    tx = Transaction(
        [signer],
        Message(
            [
                transfer(
                    TransferParams(
                        from_pubkey=signer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=1000
                    )
                )
            ],
            signer.pubkey(),
        ),
        net.chain.latest_blockhash()[0],
    )

    assert response.status_code == 201
    assert response.json()["pubkey"] == str(keypair.pubkey())
    assert tx.verify_with_results() == [True]
    assert secret not in response.text


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "not base58 0OIl",
        b58encode(bytes(32)),  # a seed alone
        json.dumps([1, 2, 3]),
        json.dumps([300] * 64),
        "[not json",
        b58encode(bytes(Keypair())[:32] + bytes(Keypair().pubkey())),  # halves of two keys
    ],
)
async def test_import__bad_secret__422_naming_the_field_without_echoing_it(client, users, secret):
    alice, _ = users
    response = await client.post(
        "/api/wallets/import", json={"secret_key": secret}, headers=alice["auth"]
    )

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "secret_key"
    if len(secret) > 8:
        assert secret not in response.text
    assert await Wallet.objects.acount() == 0


async def test_import__same_wallet_twice__409(client, users):
    alice, bob = users
    secret = b58encode(bytes(Keypair()))
    first = await client.post(
        "/api/wallets/import", json={"secret_key": secret}, headers=alice["auth"]
    )
    again = await client.post(
        "/api/wallets/import", json={"secret_key": secret}, headers=bob["auth"]
    )

    assert first.status_code == 201
    assert again.status_code == 409
    assert await Wallet.objects.acount() == 1


async def test_isolation__a_user_sees_only_their_wallets(client, users, net, platform_rpc):
    alice, bob = users
    await client.post("/api/wallets", json={"label": "alice's"}, headers=alice["auth"])
    bobs = await client.get("/api/wallets", headers=bob["auth"])
    anonymous = await client.get("/api/wallets")

    assert bobs.status_code == 200 and bobs.json()["wallets"] == []
    assert anonymous.status_code == 401


# ---- rotation --------------------------------------------------------------------------------


def test_rotation__old_key_rewrapped_and_still_signs(settings):
    old = settings.WALLET_ENCRYPTION_KEY
    user = get_user_model().objects.create_user("carol", "carol@example.com")
    keypair = Keypair()
    sealed, sealed_id = seal(bytes(keypair), str(keypair.pubkey()))
    Wallet.objects.create(
        user=user, pubkey=str(keypair.pubkey()), encrypted_secret=sealed, key_id=sealed_id
    )
    settings.WALLET_ENCRYPTION_KEY = _key()
    settings.WALLET_ENCRYPTION_OLD_KEYS = [old]

    call_command("rotate_wallet_key")
    call_command("rotate_wallet_key")  # idempotent
    settings.WALLET_ENCRYPTION_OLD_KEYS = []  # the old key is gone now
    wallet = Wallet.objects.get()

    assert wallet.key_id == key_id(base64.urlsafe_b64decode(settings.WALLET_ENCRYPTION_KEY))
    assert wallet_keypair(wallet).pubkey() == keypair.pubkey()


def test_rotation__unknown_key_reported_not_corrupted(settings):
    user = get_user_model().objects.create_user("dave", "dave@example.com")
    keypair = Keypair()
    sealed, sealed_id = seal(bytes(keypair), str(keypair.pubkey()))
    Wallet.objects.create(
        user=user, pubkey=str(keypair.pubkey()), encrypted_secret=sealed, key_id=sealed_id
    )
    settings.WALLET_ENCRYPTION_KEY = _key()  # the sealing key is lost

    with pytest.raises(CommandError) as failed:
        call_command("rotate_wallet_key")

    assert str(keypair.pubkey()) in str(failed.value)
    assert bytes(Wallet.objects.get().encrypted_secret) == sealed


# ---- no secret anywhere --------------------------------------------------------------------


async def test_secrets__never_in_responses_logs_or_admin(client, users, caplog, settings):
    alice, _ = users
    caplog.set_level(logging.DEBUG)
    keypairs = [Keypair() for _ in range(2)]
    bodies = []
    for keypair in keypairs:
        response = await client.post(
            "/api/wallets/import",
            json={"secret_key": b58encode(bytes(keypair)), "label": "x"},
            headers=alice["auth"],
        )
        bodies.append(response.text)
    bodies.append((await client.post("/api/wallets", json={}, headers=alice["auth"])).text)
    generated = await Wallet.objects.order_by("-pk").afirst()
    keypairs.append(wallet_keypair(generated))
    # The admin, as staff: the change list and each wallet's page.
    staff = await get_user_model().objects.acreate_superuser(
        "root", "root@example.com", "pw-123456"
    )
    from asgiref.sync import sync_to_async
    from django.test import Client

    admin = Client()
    await sync_to_async(admin.force_login)(staff)
    pages = [(await sync_to_async(admin.get)("/admin/trading/wallet/")).content.decode()]
    async for wallet in Wallet.objects.all():
        page = await sync_to_async(admin.get)(f"/admin/trading/wallet/{wallet.pk}/change/")
        pages.append(page.content.decode())
    from django.db import connections

    await sync_to_async(connections.close_all)()  # the admin client's connection
    logs = "\n".join(record.getMessage() for record in caplog.records)

    everything = "\n".join([*bodies, *pages, logs])
    assert all(str(k.pubkey()) in everything for k in keypairs)  # the check can see them
    for keypair in keypairs:
        for form in _secret_forms(keypair):
            assert form not in everything


def test_admin__trading_pages_render_for_staff_and_the_kill_switch_saves():
    from django.test import Client

    staff = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-123456")
    admin = Client()
    admin.force_login(staff)
    pages = {
        path: admin.get(path).status_code
        for path in (
            "/admin/trading/order/",
            "/admin/trading/sniperrule/",
            "/admin/trading/sniperdecision/",
            "/admin/trading/sniperswitch/add/",
        )
    }
    saved = admin.post("/admin/trading/sniperswitch/add/", {"changed_by": ""})  # enabled off

    from apps.trading.models import SniperSwitch

    switch = SniperSwitch.objects.get()
    assert pages == {path: 200 for path in pages}
    assert saved.status_code == 302
    assert (switch.pk, switch.enabled, switch.changed_by) == (1, False, "boss")
