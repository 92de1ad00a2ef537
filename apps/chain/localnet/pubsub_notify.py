"""What each chain event tells which pubsub subscription, in Agave's notification shapes.

Commitment follows chain.py: a transaction is `processed` when it executes, its slot
is `confirmed` once the next slot starts and `finalized` `finality_depth` slots later.
Processed notifications go out per transaction; confirmed and finalized ones when the
chain's clock makes a slot reach that level, with the slot's last written value.
Everything here runs on the pubsub's event loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from solders.account import Account
from solders.pubkey import Pubkey

from .b58 import b58encode
from .chain import Chain
from .encoding import MAX_BASE58_BYTES, encode_account, slice_data
from .jsonrpc import dumps
from .pubsub_subscriptions import (
    AccountViewSubscription,
    SignatureSubscription,
    Subscription,
    Subscriptions,
)
from .records import SYSTEM_PROGRAM, SlotRecord, TxRecord

_EMPTY_ACCOUNT = Account(lamports=0, data=b"", owner=SYSTEM_PROGRAM, executable=False, rent_epoch=0)


def _context(slot: int, value: Any) -> dict[str, Any]:
    return {"context": {"slot": slot}, "value": value}


class Notifier:
    """Turns the chain's slot and transaction events into notifications on connections."""

    def __init__(self, chain: Chain, subscriptions: Subscriptions) -> None:
        self.chain = chain
        self.subscriptions = subscriptions

    def transaction_processed(self, tx: TxRecord) -> None:
        index = self.subscriptions.index
        for sub in list(index.signatures.get(tx.signature, {}).values()):
            if sub.commitment == "processed":
                self._notify_signature(sub, tx.slot, tx.err)
            elif sub.notify_received and not sub.received_sent:
                sub.received_sent = True
                self._notify(sub, _context(tx.slot, "receivedSignature"))
        self._publish_logs(tx, "processed", tx.slot)
        self._publish_writes(tx.accounts_written, "processed", tx.slot)

    def slot_started(self, record: SlotRecord) -> None:
        root = max(0, record.slot - self.chain.finality_depth)
        for sub in list(self.subscriptions.index.slots.values()):
            self._notify(sub, {"parent": record.parent, "root": root, "slot": record.slot})
        if record.slot >= 1:
            self._slot_reached(record.slot - 1, "confirmed")
        if record.slot >= self.chain.finality_depth:
            self._slot_reached(root, "finalized")

    def signature_already_landed(self, sub: SignatureSubscription, tx: TxRecord) -> None:
        """Answer a signatureSubscribe whose transaction had landed before it was made."""
        if self.subscriptions.is_live(sub):
            self._notify_signature(sub, self.chain.commitment_slot(sub.commitment), tx.err)

    def _slot_reached(self, slot: int, commitment: str) -> None:
        """Publish what `slot` holds to the subscriptions waiting for `commitment`."""
        record = self.chain.slot_record(slot)
        if record is None or not record.transactions:
            return
        latest: dict[Pubkey, Account | None] = {}
        for tx in record.transactions:
            for sub in list(self.subscriptions.index.signatures.get(tx.signature, {}).values()):
                if sub.commitment == commitment:
                    self._notify_signature(sub, slot, tx.err)
            self._publish_logs(tx, commitment, slot)
            latest.update(tx.accounts_written)
        self._publish_writes(latest.items(), commitment, slot)

    def _notify_signature(self, sub: SignatureSubscription, slot: int, err: Any) -> None:
        self._notify(sub, _context(slot, {"err": err}))
        self.subscriptions.remove(sub)  # one notification, then gone, as in Agave

    def _publish_logs(self, tx: TxRecord, commitment: str, slot: int) -> None:
        subs = [s for s in self.subscriptions.index.logs.values() if s.commitment == commitment]
        if not subs:
            return
        mentioned = {*tx.account_keys, *tx.loaded_writable, *tx.loaded_readonly}
        value = {"signature": str(tx.signature), "err": tx.err, "logs": tx.logs}
        for sub in subs:
            if sub.mentions is None or sub.mentions in mentioned:
                self._notify(sub, _context(slot, value))

    def _publish_writes(
        self, writes: Iterable[tuple[Pubkey, Account | None]], commitment: str, slot: int
    ) -> None:
        index = self.subscriptions.index
        for pubkey, account in writes:
            for sub in list(index.accounts.get(pubkey, {}).values()):
                if sub.commitment == commitment:
                    shown = account or _EMPTY_ACCOUNT  # a closed account reads as empty
                    ui = self._ui_account(pubkey, shown, sub)
                    self._notify(sub, _context(slot, ui))
            if account is None:
                continue
            for sub in list(index.programs.get(account.owner, {}).values()):
                if sub.commitment == commitment and sub.matches(bytes(account.data)):
                    ui = self._ui_account(pubkey, account, sub)
                    self._notify(sub, _context(slot, {"pubkey": str(pubkey), "account": ui}))

    def _ui_account(
        self, pubkey: Pubkey, account: Account, sub: AccountViewSubscription
    ) -> dict[str, Any]:
        sliced = slice_data(bytes(account.data), sub.data_slice)
        if sub.encoding in ("base58", "binary") and len(sliced) > MAX_BASE58_BYTES:
            # getAccountInfo refuses base58 past 128 bytes; Agave's pubsub encodes it anyway.
            ui = encode_account(pubkey, account, "base64", sub.data_slice)
            text = b58encode(sliced)
            ui["data"] = text if sub.encoding == "binary" else [text, "base58"]
            return ui
        # jsonParsed reads a token account's mint for its decimals.
        return encode_account(
            pubkey, account, sub.encoding, sub.data_slice, get_account=self.chain.get_account
        )

    @staticmethod
    def _notify(sub: Subscription, result: Any) -> None:
        params = {"result": result, "subscription": sub.id}
        message = {"jsonrpc": "2.0", "method": sub.notification, "params": params}
        sub.connection.push(dumps(message))
