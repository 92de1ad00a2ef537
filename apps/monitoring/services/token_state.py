"""The hot state of one launchpad token, and the numbers traders read off it.

`TokenState` is the working copy the processor updates on every decoded write or event;
`HotStore` mirrors it where other processes can read it at once (a Redis hash per mint when
REDIS_URL is set, a dict in process otherwise). PostgreSQL gets it — with the holder book
behind the holder numbers — in batches on flush.

Numbers are quantized to the precision the database keeps, so the hot and durable copies
never disagree by a rounding digit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from solders.pubkey import Pubkey

from apps.chain.programs.pump import curve as curve_math
from apps.chain.programs.pump.accounts import BondingCurve
from apps.chain.programs.pump.constants import LAMPORTS_PER_SOL, TOKEN_DECIMALS, TOKEN_TOTAL_SUPPLY

PRICE_STEP = Decimal("1e-18")
SOL_STEP = Decimal("1e-9")
PCT_STEP = Decimal("1e-4")
HUNDRED = Decimal(100)
TOP_HOLDERS = 10
# A token restored from the database has seen everything up to its state_slot: no update of
# that slot or an earlier one may be applied again (a replay after reconnect).
AFTER_ALL = 2**63 - 1
_NO_KEY = Pubkey.default()

# Fields the database row and the hot copy share (everything but the mint and bookkeeping).
DURABLE_FIELDS = (
    "name",
    "symbol",
    "uri",
    "creator",
    "created_slot",
    "created_at",
    "bonding_curve",
    "virtual_sol_reserves",
    "virtual_token_reserves",
    "real_sol_reserves",
    "real_token_reserves",
    "token_total_supply",
    "progress_pct",
    "price_sol",
    "market_cap_sol",
    "complete",
    "pool",
    "migrated_at",
    "holders",
    "dev_holding_pct",
    "top10_pct",
    "twitter",
    "telegram",
    "website",
    "last_trade_at",
    "state_slot",
)
_SOCIALS = ("twitter", "telegram", "website")
# What snapshot() publishes, in order (reserves and bookkeeping stay private; socials nest).
_SNAPSHOT_FIELDS = tuple(
    name
    for name in DURABLE_FIELDS
    if not name.endswith("_reserves")
    and name not in ("state_slot", "token_total_supply", *_SOCIALS)
)


def utc_from_unix(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def sol(lamports: int) -> Decimal:
    return (Decimal(lamports) / LAMPORTS_PER_SOL).quantize(SOL_STEP)


def tokens(raw: int) -> Decimal:
    return Decimal(raw).scaleb(-TOKEN_DECIMALS)


def price_of(quote_lamports: int, base_raw: int) -> Decimal:
    """SOL per whole token for a reserve pair (0 when the base side is empty)."""
    if base_raw <= 0:
        return Decimal(0)
    num = Decimal(quote_lamports) * (10**TOKEN_DECIMALS)
    return (num / (Decimal(base_raw) * LAMPORTS_PER_SOL)).quantize(PRICE_STEP)


@dataclass
class HolderBook:
    """Token accounts of one mint and their balances, from post-trade token balances.

    Complete (`tracked`) only when followed from the coin's creation (and restored from the
    database after a restart): a book started mid-life would undercount, so its holder count
    and top-10 share are not reported.
    """

    accounts: dict[str, tuple[str, int]] = field(default_factory=dict)  # account -> (owner, raw)
    tracked: bool = False

    def set(self, account: str, owner: str, amount: int) -> bool:
        """Record a balance; True when it changed."""
        before = self.accounts.get(account)
        if amount <= 0:
            return self.accounts.pop(account, None) is not None
        if before == (owner, amount):
            return False
        self.accounts[account] = (owner, amount)
        return True

    def by_owner(self, excluded: set[str]) -> dict[str, int]:
        totals: dict[str, int] = {}
        for owner, amount in self.accounts.values():
            if owner not in excluded:
                totals[owner] = totals.get(owner, 0) + amount
        return totals


@dataclass
class TokenState:
    mint: str
    name: str = ""
    symbol: str = ""
    uri: str = ""
    creator: str = ""
    created_slot: int | None = None
    created_at: datetime | None = None
    bonding_curve: str = ""
    virtual_sol_reserves: int = 0
    virtual_token_reserves: int = 0
    real_sol_reserves: int = 0
    real_token_reserves: int = 0
    token_total_supply: int = TOKEN_TOTAL_SUPPLY
    progress_pct: Decimal = Decimal(0)
    price_sol: Decimal = Decimal(0)
    market_cap_sol: Decimal = Decimal(0)
    complete: bool = False
    pool: str | None = None
    migrated_at: datetime | None = None
    holders: int | None = None
    dev_holding_pct: Decimal | None = None
    top10_pct: Decimal | None = None
    twitter: str | None = None
    telegram: str | None = None
    website: str | None = None
    last_trade_at: datetime | None = None
    state_slot: int = 0
    # Replay guards: the newest account write (slot, write_version) and transaction
    # (slot, index) applied; anything at or before them was seen already.
    write_pos: tuple[int, int] = (0, 0)
    tx_pos: tuple[int, int] = (0, 0)
    book: HolderBook = field(default_factory=HolderBook)
    persisted: bool = False  # a database row exists (restored, or flushed once)

    # ---- derived numbers ------------------------------------------------------------------

    @property
    def migrated(self) -> bool:
        return self.pool is not None

    def numbers(self) -> tuple[Any, ...]:
        """What a trader sees change; a change publishes an event."""
        return (
            self.progress_pct,
            self.price_sol,
            self.market_cap_sol,
            self.complete,
            self.pool,
            self.holders,
            self.dev_holding_pct,
            self.top10_pct,
            self.name,
            self.symbol,
        )

    def _set_price(self, price: Decimal) -> None:
        self.price_sol = price
        supply_tokens = tokens(self.token_total_supply or TOKEN_TOTAL_SUPPLY)
        self.market_cap_sol = (price * supply_tokens).quantize(SOL_STEP)

    def apply_curve(self, curve: BondingCurve) -> None:
        """A bonding-curve account's state (absolute: applying it twice changes nothing)."""
        self.complete = self.complete or curve.complete
        if curve.virtual_token_reserves == 0:
            # `migrate` drains the curve: its last price stays, the pool's takes over.
            self.progress_pct = HUNDRED if self.complete else self.progress_pct
            return
        self.virtual_sol_reserves = curve.virtual_quote_reserves
        self.virtual_token_reserves = curve.virtual_token_reserves
        self.real_sol_reserves = curve.real_quote_reserves
        self.real_token_reserves = curve.real_token_reserves
        if curve.token_total_supply:
            self.token_total_supply = curve.token_total_supply
        self.progress_pct = curve_math.bonding_curve_progress(curve).quantize(PCT_STEP)
        if not self.migrated:
            self._set_price(price_of(curve.virtual_quote_reserves, curve.virtual_token_reserves))

    def apply_reserves(
        self, virtual_sol: int, virtual_token: int, real_sol: int, real_token: int
    ) -> None:
        """Reserves after a curve trade, as its TradeEvent reports them."""
        current = BondingCurve(
            virtual_token_reserves=virtual_token,
            virtual_quote_reserves=virtual_sol,
            real_token_reserves=real_token,
            real_quote_reserves=real_sol,
            token_total_supply=self.token_total_supply,
            complete=self.complete or real_token == 0,
            creator=_NO_KEY,
            is_mayhem_mode=False,
            is_cashback_coin=False,
            quote_mint=_NO_KEY,
            creator_fee_bps=0,
            can_edit_creator_fee=False,
            is_holder_reward=False,
        )
        self.apply_curve(current)

    def apply_pool_reserves(self, base_raw: int, quote_lamports: int) -> None:
        """Pool reserves after a PumpSwap trade: the price now comes from the pool."""
        self._set_price(price_of(quote_lamports, base_raw))

    def refresh_holders(self, excluded: set[str]) -> None:
        """Holders, top-10 and dev holding from the book (curve and pool accounts excluded)."""
        supply = self.token_total_supply or TOKEN_TOTAL_SUPPLY
        totals = self.book.by_owner(excluded)
        if self.creator:
            dev = totals.get(self.creator, 0)
            self.dev_holding_pct = (Decimal(100 * dev) / supply).quantize(PCT_STEP)
        if not self.book.tracked:
            return
        self.holders = len(totals)
        top = sorted(totals.values(), reverse=True)[:TOP_HOLDERS]
        self.top10_pct = (Decimal(100 * sum(top)) / supply).quantize(PCT_STEP)

    # ---- persistence shapes -----------------------------------------------------------------

    def durable(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in DURABLE_FIELDS}

    @classmethod
    def from_row(cls, row: Any) -> TokenState:
        state = cls(mint=row.mint, **{name: getattr(row, name) for name in DURABLE_FIELDS})
        state.write_pos = state.tx_pos = (row.state_slot, AFTER_ALL)
        state.persisted = True
        return state

    def snapshot(self, column: str | None) -> dict[str, Any]:
        """The JSON the realtime layer publishes (Decimals as strings, times as ISO 8601)."""
        out: dict[str, Any] = {"mint": self.mint, "column": column}
        for name in _SNAPSHOT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, datetime):
                value = value.isoformat()
            out[name] = value
        out["socials"] = {
            "twitter": self.twitter,
            "telegram": self.telegram,
            "website": self.website,
        }
        return out


# ---- the hot store -------------------------------------------------------------------------


class HotStore(Protocol):
    """Where the hot copy of each token is readable at once by other processes."""

    async def save(
        self, states: list[TokenState], snapshots: list[dict[str, Any]] | None = None
    ) -> None:
        """Mirror `states`; `snapshots`, when given, are their `snapshot(None)` already made
        (the processor publishes the same numbers and computes them once)."""

    async def token(self, mint: str) -> dict[str, Any] | None: ...

    async def close(self) -> None: ...


class InProcessHotStore:
    """Without Redis: the same reads, served from this process."""

    def __init__(self) -> None:
        self._tokens: dict[str, dict[str, Any]] = {}

    async def save(
        self, states: list[TokenState], snapshots: list[dict[str, Any]] | None = None
    ) -> None:
        if snapshots is None:
            snapshots = [state.snapshot(None) for state in states]
        for state, snapshot in zip(states, snapshots, strict=True):
            self._tokens[state.mint] = snapshot

    async def token(self, mint: str) -> dict[str, Any] | None:
        return self._tokens.get(mint)

    async def close(self) -> None:
        return None

    def clear(self) -> None:
        self._tokens.clear()


class RedisHotStore:
    """A Redis hash per mint (`monitor:token:<mint>`), written in one pipeline per update."""

    TOKEN_KEY = "monitor:token:{}"

    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url, decode_responses=True)

    async def save(
        self, states: list[TokenState], snapshots: list[dict[str, Any]] | None = None
    ) -> None:
        if not states:
            return
        if snapshots is None:
            snapshots = [state.snapshot(None) for state in states]
        pipe = self._redis.pipeline(transaction=False)
        for state, snapshot in zip(states, snapshots, strict=True):
            flat = {
                key: ("" if value is None else str(value))
                for key, value in snapshot.items()
                if key not in ("socials", "column")
            }
            pipe.hset(self.TOKEN_KEY.format(state.mint), mapping=flat)
        await pipe.execute()

    async def token(self, mint: str) -> dict[str, Any] | None:
        return await self._redis.hgetall(self.TOKEN_KEY.format(mint)) or None

    async def close(self) -> None:
        await self._redis.aclose()


_IN_PROCESS = InProcessHotStore()


def hot_store_from_settings() -> HotStore:
    """Redis when REDIS_URL is set; otherwise this process's one in-process store."""
    from django.conf import settings

    url = getattr(settings, "REDIS_URL", "")
    return RedisHotStore(url) if url else _IN_PROCESS
