"""Token state from the Geyser stream: pump.fun curves, PumpSwap pools and their events.

`TokenStateProcessor` implements the stream's `StreamProcessor` contract:

- `process(update)` decodes one SubscribeUpdate — a bonding-curve or pool account write, or a
  transaction's pump / PumpSwap events (from its `Program data:` logs AND from the emit_cpi!
  self-invocations in its inner instructions; the two copies of an event count once) — and
  updates the hot state at once: the in-memory working copy, the hot store (Redis when
  configured), the realtime bus (Pulse and token events) and the migration detector.
- `flush(slot)` writes what changed to PostgreSQL in one transaction of bulk upserts, before
  the stream checkpoints `slot`. A failure raises, so the checkpoint does not move.

Replays (a reconnect resuming from an earlier slot, a restart from the checkpoint) change
nothing: account writes apply only past the newest (slot, write_version) seen, transactions
only past the newest (slot, index), trades are unique per (signature, index), and migration
stages are unique per (mint, stage) in the database.

Garbage (an account of the wrong size or discriminator, an event that does not decode) is
counted per kind and logged once per kind; it never raises.
"""

from __future__ import annotations

import base64
import binascii
import logging
import operator
from collections import Counter, OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import reduce
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from prometheus_client import Counter as PromCounter
from solders.pubkey import Pubkey
from solders.signature import Signature

from apps.chain.programs.anchor import EVENT_IX_TAG_LE, DecodeError
from apps.chain.programs.ids import WSOL_MINT
from apps.chain.programs.pump import PUMP, PUMP_PROGRAM_ID
from apps.chain.programs.pump import accounts as pump_accounts
from apps.chain.programs.pump import events as pump_events
from apps.chain.programs.pump import pdas as pump_pdas
from apps.chain.programs.pump_amm import PUMP_AMM, PUMP_AMM_PROGRAM_ID
from apps.chain.programs.pump_amm import accounts as amm_accounts
from apps.chain.programs.pump_amm import events as amm_events
from apps.monitoring.models import Token, TokenHolding, TokenTrade
from apps.monitoring.services.migration_detector import (
    CURVE_COMPLETE,
    MIGRATED,
    MigrationDetector,
    Publisher,
    Stage,
    token_topic,
)
from apps.monitoring.services.pulse import Column, RulesCache, column_of
from apps.monitoring.services.token_state import (
    DURABLE_FIELDS,
    HUNDRED,
    HotStore,
    TokenState,
    hot_store_from_settings,
    price_of,
    sol,
    tokens,
    utc_from_unix,
)

log = logging.getLogger(__name__)

GARBAGE = PromCounter(
    "platform_monitor_garbage_total",
    "Stream input the token processor could not use, by kind",
    ["kind"],
)
UPDATES = PromCounter(
    "platform_monitor_token_updates_total",
    "Stream updates the token processor handled, by kind",
    ["kind"],
)
_ACCOUNT_UPDATES = UPDATES.labels("account")
_TRANSACTION_UPDATES = UPDATES.labels("transaction")
PUBLISH_ERRORS = PromCounter(
    "platform_monitor_publish_errors_total",
    "Pulse/token events the processor failed to hand to the bus",
)

PUMP_ID = bytes(PUMP_PROGRAM_ID)
AMM_ID = bytes(PUMP_AMM_PROGRAM_ID)
WSOL = str(WSOL_MINT)
# Shortest legacy curve (through `complete`); shorter data is no curve at all.
MIN_CURVE_LEN = 8 + 5 * 8 + 1
# A pool through lp_supply; older pools stop there or a little later, newer ones are padded.
MIN_POOL_LEN = 8 + 1 + 2 + 6 * 32 + 8
PENDING_CURVES = 4096
DATA_PREFIX = "Program data: "
HEAD_CACHE = 4096
UNFOLLOWED_MINTS = 65_536

# Within one transaction: a coin exists before it trades, completes after its last trade,
# migrates after completing (whatever order the two event copies came in).
_EVENT_ORDER = {
    pump_events.CreateEvent: 0,
    pump_events.TradeEvent: 1,
    amm_events.BuyEvent: 1,
    amm_events.SellEvent: 1,
    pump_events.CompleteEvent: 2,
    pump_events.CompletePumpAmmMigrationEvent: 3,
}


async def bus_publish(topic: str, type: str, data: dict[str, Any]) -> Any:
    """The realtime bus (apps/realtime/bus.py), imported at first use."""
    from apps.realtime.bus import publish

    return await publish(topic, type, data)


def _bus_encoded(data: dict[str, Any]) -> Any:
    """`data` encoded once for the bus's several Pulse topics (the dict itself when it cannot
    be: each publish then fails and is counted on its own, as without the shortcut)."""
    from apps.realtime.bus import encode_event_data

    try:
        return encode_event_data(data)
    except (TypeError, ValueError):
        return data


def b58(raw: bytes) -> str:
    """Base58 of a 32-byte key (hex for anything else: a malformed update must not raise)."""
    return str(Pubkey.from_bytes(raw)) if len(raw) == 32 else raw.hex()


def b58_signature(raw: bytes) -> str:
    return str(Signature.from_bytes(raw)) if len(raw) == 64 else ""


def _update_time(update: Any) -> datetime:
    if update is not None and update.HasField("created_at"):
        return update.created_at.ToDatetime(tzinfo=UTC)
    return timezone.now()


class _TxEvents:
    """One program's event codecs, as the transaction decoder needs them."""

    def __init__(self, program_id: bytes, program: Any, typed: Any) -> None:
        self.program_id = program_id
        self.program = program
        self.typed = typed
        self.discriminators = frozenset(program.event_discriminators.values())
        # Logged chunks start with a handful of discriminators: remember each head's verdict.
        self.head_is_event: dict[str, bool] = {}

    def is_event_head(self, head: str) -> bool:
        """Whether base64 `head` (a chunk's first 12 characters) opens one of our events."""
        try:
            raw = base64.b64decode(head + "=" * (-len(head) % 4))
        except (binascii.Error, ValueError):
            hit = False
        else:
            hit = raw[:8] in self.discriminators
        if len(self.head_is_event) >= HEAD_CACHE:  # garbage heads must not grow it forever
            self.head_is_event.clear()
        self.head_is_event[head] = hit
        return hit


_PUMP_EVENTS = _TxEvents(PUMP_ID, PUMP, pump_events)
_AMM_EVENTS = _TxEvents(AMM_ID, PUMP_AMM, amm_events)


class TokenStateProcessor:
    """Decodes pump / PumpSwap updates into token state, migration stages and Pulse events."""

    def __init__(
        self,
        *,
        publish: Publisher | None = None,
        hot_store: HotStore | None = None,
        rules: RulesCache | None = None,
        max_hot_tokens: int | None = None,
    ) -> None:
        self._publish: Publisher = publish or bus_publish
        self.hot_store = hot_store or hot_store_from_settings()
        self.rules = rules or RulesCache()
        self.max_hot_tokens = max_hot_tokens or getattr(settings, "MONITOR_HOT_TOKENS", 50_000)
        self.detector = MigrationDetector(self._publish)
        self.states: OrderedDict[str, TokenState] = OrderedDict()
        self.curve_to_mint: dict[str, str] = {}
        self.pool_to_mint: dict[str, str] = {}
        # Mints of pool writes found in neither memory nor the database: PumpSwap pools of
        # coins this monitor does not follow are written on every trade, and each would cost
        # a query. Only those lookups trust it (a coin that starts being followed reaches
        # memory through its events, which always query), so it never hides a row.
        self._unfollowed: OrderedDict[str, None] = OrderedDict()
        self._pending_curves: OrderedDict[str, tuple[Any, ...]] = OrderedDict()
        self._dirty: set[str] = set()
        self._trades: list[dict[str, Any]] = []  # TokenTrade fields, made rows on flush
        self._book_changes: dict[str, dict[str, tuple[str, int] | None]] = {}
        self._started = False
        self._migrations_unpublished = False
        self.garbage: Counter[str] = Counter()
        self._garbage_logged: set[str] = set()
        self.flushed_slot = 0

    # ---- the StreamProcessor contract -------------------------------------------------------

    async def process(self, update: Any) -> None:
        if not self._started:
            await self.start()
        which = update.WhichOneof("update_oneof")
        if which == "account":
            _ACCOUNT_UPDATES.inc()
            await self._on_account(update)
        elif which == "transaction":
            _TRANSACTION_UPDATES.inc()
            await self._on_transaction(update)

    async def flush(self, slot: int) -> None:
        """Write every token changed and every trade seen since the last flush, in one
        database transaction; the stream checkpoints `slot` only after this returns."""
        if not self._started:
            await self.start()
        dirty, trades, books = self._dirty, self._trades, self._book_changes
        self._dirty, self._trades, self._book_changes = set(), [], {}
        rows = []
        for mint in dirty:
            state = self.states.get(mint)
            if state is not None:
                state.state_slot = max(state.state_slot, slot)
                state.persisted = True
                rows.append(Token(mint=mint, **state.durable()))
        try:
            trade_rows = [TokenTrade(**fields) for fields in trades]
            await sync_to_async(_write_batch)(rows, trade_rows, books)
        except BaseException:
            self._dirty |= dirty  # the next flush tries again; nothing is lost
            self._trades[:0] = trades
            for mint, changes in books.items():
                self._book_changes[mint] = {**changes, **self._book_changes.get(mint, {})}
            raise
        self.flushed_slot = max(self.flushed_slot, slot)
        if self._migrations_unpublished:
            self._migrations_unpublished = False
            await self._publish_pending_migrations()
        self._evict()

    # ---- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Learn which curve and pool belongs to which known mint; publish migration stages a
        crash left unpublished. Runs once, before the first update."""
        self._started = True
        async for mint, curve, pool in Token.objects.values_list("mint", "bonding_curve", "pool"):
            if curve:
                self.curve_to_mint[curve] = mint
            if pool:
                self.pool_to_mint[pool] = mint
        await self._publish_pending_migrations()

    async def close(self) -> None:
        await self.hot_store.close()

    # ---- garbage ----------------------------------------------------------------------------

    def _garbage(self, kind: str, detail: str) -> None:
        self.garbage[kind] += 1
        GARBAGE.labels(kind).inc()
        if kind not in self._garbage_logged:
            self._garbage_logged.add(kind)
            log.warning("monitor: ignoring garbage on the stream (%s): %s", kind, detail)

    # ---- token states -----------------------------------------------------------------------

    async def _state(self, mint: str, *, create: bool) -> TokenState | None:
        state = self.states.get(mint)
        if state is not None:
            self.states.move_to_end(mint)
            return state
        if not create and mint in self._unfollowed:
            return None
        row = await Token.objects.filter(mint=mint).afirst()
        if row is not None:
            state = TokenState.from_row(row)
            state.book.tracked = row.holders is not None
            async for account, owner, amount in TokenHolding.objects.filter(mint=mint).values_list(
                "account", "owner", "amount"
            ):
                state.book.accounts[account] = (owner, int(amount))
        elif create:
            state = TokenState(mint=mint)
        else:
            self._unfollowed[mint] = None
            if len(self._unfollowed) > UNFOLLOWED_MINTS:
                self._unfollowed.popitem(last=False)
            return None
        self._unfollowed.pop(mint, None)
        self.states[mint] = state
        if state.bonding_curve:
            self._map_curve(state.bonding_curve, mint)
        if state.pool:
            self.pool_to_mint[state.pool] = mint
        return state

    def _map_curve(self, curve: str, mint: str) -> None:
        self.curve_to_mint[curve] = mint

    def _evict(self) -> None:
        """Keep memory bounded: forget the least recently touched tokens already flushed
        (they reload from the database with their holder book)."""
        while len(self.states) > self.max_hot_tokens:
            mint, state = next(iter(self.states.items()))
            if mint in self._dirty:
                break
            del self.states[mint]

    # ---- account writes ---------------------------------------------------------------------

    async def _on_account(self, update: Any) -> None:
        acc = update.account
        info = acc.account
        owner, data = info.owner, info.data
        if owner == PUMP_ID:
            await self._on_pump_account(update, info, acc.slot, data)
        elif owner == AMM_ID:
            await self._on_amm_account(update, info, acc.slot, data)

    async def _on_pump_account(self, update: Any, info: Any, slot: int, data: bytes) -> None:
        name = PUMP.account_name(data)
        if name is None:
            self._garbage("account_discriminator", f"pump account {b58(info.pubkey)}")
            return
        if name != "BondingCurve":
            return  # Global, volume accumulators...: nothing Pulse shows
        if len(data) < MIN_CURVE_LEN:
            self._garbage("account_size", f"bonding curve of {len(data)} bytes")
            return
        try:
            curve = pump_accounts.decode_bonding_curve(data)
        except DecodeError as exc:
            self._garbage("account_undecodable", f"bonding curve: {exc}")
            return
        address = b58(info.pubkey)
        write = ((slot, info.write_version), curve, info.txn_signature, _update_time(update))
        mint = self.curve_to_mint.get(address)
        if mint is None:
            # A new coin's curve is written before its CreateEvent arrives: hold it until
            # the event names the mint (bounded: curves nobody names are dropped, oldest first).
            self._pending_curves[address] = write
            if len(self._pending_curves) > PENDING_CURVES:
                self._pending_curves.popitem(last=False)
            return
        await self._apply_curve_write(mint, *write)

    async def _apply_curve_write(
        self, mint: str, pos: tuple[int, int], curve: Any, signature: bytes, at: datetime
    ) -> None:
        state = await self._state(mint, create=True)
        assert state is not None
        if pos <= state.write_pos:
            return  # a replay
        before = self._before(state)
        state.write_pos = pos
        was_complete = state.complete
        state.apply_curve(curve)
        await self._changed({mint: before}, pos[0])
        if state.complete and not was_complete:
            await self._stage(Stage(mint, CURVE_COMPLETE, b58_signature(signature), pos[0], at))

    async def _on_amm_account(self, update: Any, info: Any, slot: int, data: bytes) -> None:
        name = PUMP_AMM.account_name(data)
        if name is None:
            self._garbage("account_discriminator", f"PumpSwap account {b58(info.pubkey)}")
            return
        if name != "Pool":
            return
        if len(data) < MIN_POOL_LEN:
            self._garbage("account_size", f"pool of {len(data)} bytes")
            return
        try:
            pool = amm_accounts.decode_pool(data)
        except DecodeError as exc:
            self._garbage("account_undecodable", f"pool: {exc}")
            return
        mint_key = pool.base_mint
        # Only a coin's canonical pool, created by `migrate`, is its migration.
        if pool.index != 0 or pool.creator != pump_pdas.pool_authority_pda(mint_key):
            return
        mint = str(mint_key)
        state = await self._state(mint, create=False)
        if state is None:
            return  # not a coin this monitor follows
        address = b58(info.pubkey)
        self.pool_to_mint[address] = mint
        if state.pool is None and (slot, info.write_version) > state.write_pos:
            before = self._before(state)
            state.write_pos = (slot, info.write_version)
            at = _update_time(update)
            state.pool, state.migrated_at, state.complete = address, at, True
            state.progress_pct = HUNDRED
            await self._changed({mint: before}, slot)
            await self._stage(
                Stage(mint, MIGRATED, b58_signature(info.txn_signature), slot, at, address)
            )

    # ---- transactions -----------------------------------------------------------------------

    async def _on_transaction(self, update: Any) -> None:
        tx_update = update.transaction
        info = tx_update.transaction
        meta = info.meta
        if info.is_vote or meta.HasField("err"):
            return  # failed transactions change no state
        keys = list(info.transaction.message.account_keys)
        keys += meta.loaded_writable_addresses
        keys += meta.loaded_readonly_addresses
        key_set = set(keys)
        events: list[Any] = []
        if PUMP_ID in key_set:
            events += self._events(_PUMP_EVENTS, meta, keys)
        if AMM_ID in key_set:
            events += self._events(_AMM_EVENTS, meta, keys)
        if not events and not meta.post_token_balances:
            return
        events.sort(key=lambda e: _EVENT_ORDER[type(e)])
        slot, pos = tx_update.slot, (tx_update.slot, info.index)
        signature = b58_signature(info.signature)
        touched: dict[str, tuple[Any, ...] | None] = {}
        stages: list[Stage] = []
        trades: list[dict[str, Any]] = []
        for index, event in enumerate(events):
            await self._apply_event(event, index, pos, signature, touched, stages, trades)
        self._apply_balances(meta, keys, pos, touched)
        for mint in touched:
            state = self.states[mint]
            state.tx_pos = max(state.tx_pos, pos)
        await self._changed(touched, slot)
        for trade in trades:
            await self._send(token_topic(trade["mint"]), "trade", trade)
        for stage in stages:
            await self._stage(stage)

    def _events(self, source: _TxEvents, meta: Any, keys: list[bytes]) -> list[Any]:
        """The program's events once each: log copies, plus inner-instruction copies the logs
        lack (logs can be truncated; older programs `emit!` without a self-CPI)."""
        inner: list[Any] = []
        for group in meta.inner_instructions:
            for ix in group.instructions:
                if (
                    ix.program_id_index >= len(keys)
                    or keys[ix.program_id_index] != source.program_id
                ):
                    continue
                data = ix.data
                if not data.startswith(EVENT_IX_TAG_LE):
                    continue  # an ordinary self-call, not an event
                try:
                    event = source.typed.decode_event_instruction(data)
                except (DecodeError, ValueError) as exc:
                    self._garbage("event_undecodable", f"inner instruction event: {exc}")
                    continue
                if event is None:
                    self._garbage("event_discriminator", f"inner event {data[8:16].hex()}")
                elif type(event) in _EVENT_ORDER:
                    inner.append(event)
        logged_all = source.typed.decode_log_events(meta.log_messages)
        self._count_undecoded_log_events(source, meta.log_messages, len(logged_all))
        logged = [e for e in logged_all if type(e) in _EVENT_ORDER]
        in_logs = Counter(logged)
        missing_from_logs = []
        for event in inner:
            if in_logs[event] > 0:
                in_logs[event] -= 1  # the same event's other copy
            else:
                missing_from_logs.append(event)
        return logged + missing_from_logs

    def _count_undecoded_log_events(
        self, source: _TxEvents, logs: Iterable[str], decoded: int
    ) -> None:
        """Logged data that carries one of the program's event discriminators but did not
        decode (the decoder skips such data silently)."""
        candidates = 0
        heads = source.head_is_event
        for line in logs:
            if not line.startswith(DATA_PREFIX):
                continue
            for chunk in line[len(DATA_PREFIX) :].split():
                head = chunk[:12]  # 12 base64 characters hold the 8-byte discriminator
                hit = heads.get(head)
                if hit is None:
                    hit = source.is_event_head(head)
                candidates += hit
        if candidates > decoded:
            self._garbage("event_undecodable", f"{candidates - decoded} logged event(s)")

    async def _touch(
        self, mint: str, pos: tuple[int, int], touched: dict[str, Any], *, create: bool = True
    ) -> TokenState | None:
        """The token's state if this transaction is news to it (None for a replay)."""
        state = await self._state(mint, create=create)
        if state is None or pos <= state.tx_pos:
            return None
        if mint not in touched:
            touched[mint] = self._before(state)
        return state

    async def _apply_event(
        self,
        event: Any,
        index: int,
        pos: tuple[int, int],
        signature: str,
        touched: dict[str, Any],
        stages: list[Stage],
        trades: list[dict[str, Any]],
    ) -> None:
        slot = pos[0]
        if isinstance(event, pump_events.CreateEvent):
            mint = str(event.mint)
            state = await self._touch(mint, pos, touched)
            if state is None:
                return
            if not state.persisted and state.created_slot is None:
                touched[mint] = None  # a new pair: announced as created
                state.book.tracked = True  # followed from its first token account
            state.name, state.symbol, state.uri = event.name, event.symbol, event.uri
            state.creator = str(event.creator)
            state.created_slot, state.created_at = slot, utc_from_unix(event.timestamp)
            state.bonding_curve = str(event.bonding_curve)
            if event.token_total_supply:
                state.token_total_supply = event.token_total_supply
            state.apply_reserves(
                event.virtual_sol_reserves,
                event.virtual_token_reserves,
                0,
                event.real_token_reserves,
            )
            self._map_curve(state.bonding_curve, mint)
            pending = self._pending_curves.pop(state.bonding_curve, None)
            if pending is not None and pending[0] > state.write_pos:
                state.write_pos = pending[0]
                state.apply_curve(pending[1])
        elif isinstance(event, pump_events.TradeEvent):
            mint = str(event.mint)
            state = await self._touch(mint, pos, touched)
            if state is None:
                return
            if not state.bonding_curve:
                state.bonding_curve = str(pump_pdas.bonding_curve_pda(event.mint))
                self._map_curve(state.bonding_curve, mint)
            state.apply_reserves(
                event.virtual_sol_reserves,
                event.virtual_token_reserves,
                event.real_sol_reserves,
                event.real_token_reserves,
            )
            at = utc_from_unix(event.timestamp)
            state.last_trade_at = at
            trades.append(
                self._trade(
                    signature, index, mint, TokenTrade.Venue.CURVE, event.is_buy,
                    event.sol_amount, event.token_amount, str(event.user), slot, at,
                )
            )  # fmt: skip
        elif isinstance(event, pump_events.CompleteEvent):
            mint = str(event.mint)
            state = await self._touch(mint, pos, touched)
            if state is None:
                return
            state.complete, state.progress_pct = True, HUNDRED
            stages.append(
                Stage(mint, CURVE_COMPLETE, signature, slot, utc_from_unix(event.timestamp))
            )
        elif isinstance(event, pump_events.CompletePumpAmmMigrationEvent):
            mint, pool = str(event.mint), str(event.pool)
            state = await self._touch(mint, pos, touched)
            if state is None:
                return
            at = utc_from_unix(event.timestamp)
            state.complete, state.progress_pct = True, HUNDRED
            if state.pool is None:
                state.pool, state.migrated_at = pool, at
            self.pool_to_mint[pool] = mint
            if event.mint_amount:  # the pool's opening price, until its first trade
                state.apply_pool_reserves(event.mint_amount, event.sol_amount)
            stages.append(Stage(mint, MIGRATED, signature, slot, at, pool))
        else:  # a PumpSwap BuyEvent / SellEvent
            mint = self.pool_to_mint.get(str(event.pool))
            if mint is None:
                return  # a pool of a coin this monitor does not follow
            state = await self._touch(mint, pos, touched)
            if state is None:
                return
            buy = isinstance(event, amm_events.BuyEvent)
            base = event.base_amount_out if buy else event.base_amount_in
            quote = event.quote_amount_in if buy else event.quote_amount_out
            at = utc_from_unix(event.timestamp)
            state.last_trade_at = at
            trades.append(
                self._trade(
                    signature, index, mint, TokenTrade.Venue.POOL, buy,
                    quote, base, str(event.user), slot, at,
                )
            )  # fmt: skip

    def _trade(
        self,
        signature: str,
        index: int,
        mint: str,
        venue: str,
        is_buy: bool,
        lamports: int,
        raw_tokens: int,
        user: str,
        slot: int,
        at: datetime,
    ) -> dict[str, Any]:
        price = price_of(lamports, raw_tokens)
        side = TokenTrade.Side.BUY if is_buy else TokenTrade.Side.SELL
        sol_amount, token_amount = sol(lamports), tokens(raw_tokens)
        # The row is built on flush: a model instance per trade costs the hot path too much.
        self._trades.append(
            {
                "signature": signature,
                "index": index,
                "mint": mint,
                "venue": venue,
                "side": side,
                "sol_amount": sol_amount,
                "token_amount": token_amount,
                "user": user,
                "slot": slot,
                "traded_at": at,
                "price_sol": price,
            }
        )
        return {
            "mint": mint,
            "signature": signature,
            "venue": venue,
            "side": side.value,
            "sol_amount": str(sol_amount),
            "token_amount": str(token_amount),
            "price_sol": str(price),
            "user": user,
            "slot": slot,
            "traded_at": at.isoformat(),
        }

    def _apply_balances(
        self, meta: Any, keys: list[bytes], pos: tuple[int, int], touched: dict[str, Any]
    ) -> None:
        """Post-trade token balances into the holder books; pool vaults into pool prices."""
        pools: dict[str, dict[str, int]] = {}
        post_accounts = set()
        for balance in meta.post_token_balances:
            post_accounts.add(balance.account_index)
            self._balance(
                balance, int(balance.ui_token_amount.amount or 0), keys, pos, touched, pools
            )
        for balance in meta.pre_token_balances:
            if balance.account_index not in post_accounts:  # closed in this transaction
                self._balance(balance, 0, keys, pos, touched, pools)
        for mint, sides in pools.items():
            state = self.states[mint]
            if "base" in sides and "quote" in sides:
                state.apply_pool_reserves(sides["base"], sides["quote"])

    def _balance(
        self,
        balance: Any,
        amount: int,
        keys: list[bytes],
        pos: tuple[int, int],
        touched: dict[str, Any],
        pools: dict[str, dict[str, int]],
    ) -> None:
        mint, owner = balance.mint, balance.owner
        pool_mint = self.pool_to_mint.get(owner)
        if pool_mint is not None and pool_mint in touched:
            sides = pools.setdefault(pool_mint, {})
            if mint == pool_mint:
                sides["base"] = amount
            elif mint == WSOL:
                sides["quote"] = amount
        state = self.states.get(mint)
        if state is None or balance.account_index >= len(keys):
            return
        if mint not in touched:
            if pos <= state.tx_pos:
                return
            touched[mint] = self._before(state)
        account = b58(keys[balance.account_index])
        if state.book.set(account, owner, amount):
            self._book_changes.setdefault(mint, {})[account] = (owner, amount)

    # ---- publishing -------------------------------------------------------------------------

    def _before(self, state: TokenState) -> tuple[Any, ...]:
        return (state.migrated, state.progress_pct, state.numbers())

    async def _changed(self, touched: dict[str, tuple[Any, ...] | None], slot: int) -> None:
        """Mark touched tokens dirty, mirror them to the hot store and publish what changed."""
        if not touched:
            return
        rules = await self.rules.get()
        states = []
        for mint in touched:
            state = self.states[mint]
            excluded = {state.bonding_curve, state.pool or ""}
            state.refresh_holders(excluded)
            states.append(state)
            self._dirty.add(mint)
        # One snapshot per token for both the hot store and the events.
        snapshots = [state.snapshot(None) for state in states]
        await self.hot_store.save(states, snapshots=snapshots)
        for state, snapshot in zip(states, snapshots, strict=True):
            before = touched[state.mint]
            column = column_of(state.progress_pct, state.migrated, rules)
            data = {**snapshot, "column": column.value, "socials": dict(snapshot["socials"])}
            if before is None:
                await self._pulse("token.created", column, data)
                continue
            was = column_of(before[1], before[0], rules)
            if was is not column:
                await self._pulse("token.moved", column, {**data, "from": was.value}, was)
            elif before[2] != state.numbers():
                await self._pulse("token.updated", column, data)

    async def _pulse(
        self, type_: str, column: Column, data: dict[str, Any], left: Column | None = None
    ) -> None:
        mint = data["mint"]
        if self._publish is bus_publish:
            data = _bus_encoded(data)  # the same event on 3-4 topics: encode it once
        await self._send("pulse", type_, data)
        if left is not None:
            await self._send(f"pulse:{left.value}", type_, data)
        await self._send(f"pulse:{column.value}", type_, data)
        await self._send(token_topic(mint), type_, data)

    async def _send(self, topic: str, type_: str, data: dict[str, Any]) -> None:
        try:
            await self._publish(topic, type_, data)
        except Exception:
            # A live update lost is repaired by the next one; the monitor must keep going.
            PUBLISH_ERRORS.inc()
            log.exception("monitor: could not publish %s on %s", type_, topic)

    async def _stage(self, stage: Stage) -> None:
        try:
            await self.detector.record(stage)
        except Exception:
            # Recorded but not published (or not recorded): retried after the next flush.
            self._migrations_unpublished = True
            log.exception(
                "monitor: migration stage %s of %s not published", stage.stage, stage.mint
            )

    async def _publish_pending_migrations(self) -> None:
        try:
            await self.detector.publish_pending()
        except Exception:
            self._migrations_unpublished = True
            log.exception("monitor: unpublished migration stages remain")


def _write_batch(
    rows: list[Token],
    trades: list[TokenTrade],
    books: dict[str, dict[str, tuple[str, int]]],
) -> None:
    """One transaction: upsert the changed tokens and holdings, insert-or-ignore the trades."""
    now = timezone.now()
    for row in rows:
        row.updated_at = now
    held, emptied = [], []
    for mint, changes in books.items():
        gone = [account for account, (_, amount) in changes.items() if amount <= 0]
        if gone:
            emptied.append(Q(mint=mint, account__in=gone))
        held += [
            TokenHolding(mint=mint, account=account, owner=owner, amount=amount)
            for account, (owner, amount) in changes.items()
            if amount > 0
        ]
    with transaction.atomic():
        if held:
            TokenHolding.objects.bulk_create(
                held,
                batch_size=1000,
                update_conflicts=True,
                unique_fields=["mint", "account"],
                update_fields=["owner", "amount"],
            )
        if emptied:
            TokenHolding.objects.filter(reduce(operator.or_, emptied)).delete()
        if rows:
            Token.objects.bulk_create(
                rows,
                batch_size=500,
                update_conflicts=True,
                unique_fields=["mint"],
                update_fields=[*DURABLE_FIELDS, "updated_at"],
            )
        if trades:
            TokenTrade.objects.bulk_create(trades, batch_size=1000, ignore_conflicts=True)


__all__ = ["TokenStateProcessor", "bus_publish"]
