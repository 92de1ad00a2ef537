"""A pump.fun market that trades by itself on the localnet, so the platform has something to watch.

Simulated creators launch coins and simulated traders buy and sell them, with real signed
transactions sent through the localnet's JSON-RPC, built with the platform's own
instruction builders and priced with its curve and pool math. Each coin gets a fate at
launch: it *graduates* (traders pile in until the curve completes, someone migrates it,
trading moves to PumpSwap), it is *rugged* (a few buys, then the creator sells out), or
it *fizzles* (a few small trades, then nobody cares).

Deterministic for a seed: every wallet is derived from the seed and every decision comes
from one seeded RNG, one transaction per step, each landing before the next is chosen;
wall-clock pacing changes when a step happens, never what it does. So two runs with the
same seed launch the same mints and graduate the same ones.

    python -m apps.chain.localnet.market --rpc-url http://127.0.0.1:8899 --seed 7
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import enum
import hashlib
import logging
import math
import random
import signal
from collections import deque
from dataclasses import dataclass, field

from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from spl.token.instructions import create_idempotent_associated_token_account, sync_native
from spl.token.models import SyncNativeParams

from apps.chain.http import close_http_session
from apps.chain.programs.ids import TOKEN_PROGRAM_ID, WSOL_MINT
from apps.chain.programs.pump import accounts as pump_accounts
from apps.chain.programs.pump import curve as curve_math
from apps.chain.programs.pump import instructions as pump_ix
from apps.chain.programs.pump import pdas as pump_pdas
from apps.chain.programs.pump.constants import (
    BUYBACK_FEE_RECIPIENTS,
    FEE_RECIPIENTS,
    LEGACY_WITHDRAW_AUTHORITY,
)
from apps.chain.programs.pump_amm import accounts as amm_accounts
from apps.chain.programs.pump_amm import instructions as amm_ix
from apps.chain.programs.pump_amm import quotes
from apps.chain.programs.spl import associated_token_address
from apps.chain.rpc import RpcError, RpcUnavailable, rpc_call

from .models import CURVE_FEES, POOL_FEES, PROTOCOL_FEE_RECIPIENTS

log = logging.getLogger(__name__)

SOL = 1_000_000_000
TRADER_FUNDING = 2_000 * SOL
REFILL_BELOW = 20 * SOL
CURVE_FEE_RATES = curve_math.CurveFees(CURVE_FEES.protocol_fee_bps, CURVE_FEES.creator_fee_bps)
SLIPPAGE_BPS = 100
ACTIVE_COINS = 12  # older coins drop out of the simulation: memory stays bounded
BLOCKHASH_REFRESH_STEPS = 40


class Fate(enum.Enum):
    GRADUATE = "graduate"
    RUG = "rug"
    FIZZLE = "fizzle"


@dataclass(frozen=True)
class MarketConfig:
    seed: int = 7
    launches_per_minute: float = 4.0
    trades_per_second: float = 3.0
    traders: int = 24
    graduation_share: float = 0.2
    rug_share: float = 0.25
    graduate_buy_sol: float = 2.5  # median buy into a coin that will graduate

    def __post_init__(self) -> None:
        if self.launches_per_minute <= 0 or self.trades_per_second <= 0 or self.traders < 2:
            raise ValueError("launches, trades per second and traders (>= 2) must be positive")
        if not 0 <= self.graduation_share + self.rug_share <= 1:
            raise ValueError("graduation_share + rug_share must be within 0..1")

    @property
    def steps_per_launch(self) -> int:
        return max(2, round(self.trades_per_second * 60 / self.launches_per_minute))


@dataclass
class Coin:
    mint: Pubkey
    creator: Keypair
    fate: Fate
    launched_step: int
    trades: int = 0
    migrated: bool = False
    pool: Pubkey | None = None
    done: bool = False


@dataclass
class MarketLedger:
    """What the market did, for tests and logs: deterministic for a seed."""

    launches: list[tuple[str, str]] = field(default_factory=list)  # (mint, fate)
    graduations: list[str] = field(default_factory=list)  # mints migrated to PumpSwap
    rugs: list[str] = field(default_factory=list)
    curve_trades: int = 0
    pool_trades: int = 0
    transactions: int = 0
    rejected: int = 0


def derived_keypair(seed: int, role: str, index: int) -> Keypair:
    return Keypair.from_seed(hashlib.sha256(f"market:{seed}:{role}:{index}".encode()).digest())


def _create_ata(payer: Pubkey, owner: Pubkey, mint: Pubkey) -> Instruction:
    return create_idempotent_associated_token_account(payer, owner, mint, TOKEN_PROGRAM_ID)


def _sync_native(account: Pubkey) -> Instruction:
    return sync_native(SyncNativeParams(program_id=TOKEN_PROGRAM_ID, account=account))


class MarketGenerator:
    """Drives the market one transaction per step; `run()` paces steps in wall time."""

    def __init__(self, rpc_url: str, config: MarketConfig | None = None) -> None:
        self.rpc_url = rpc_url
        self.config = config or MarketConfig()
        self.rng = random.Random(self.config.seed)
        self.traders = [
            derived_keypair(self.config.seed, "trader", i) for i in range(self.config.traders)
        ]
        self.coins: deque[Coin] = deque(maxlen=ACTIVE_COINS)
        self.ledger = MarketLedger()
        self.step_index = 0
        self._blockhash: Hash | None = None

    # ---- chain access ---------------------------------------------------------------------

    async def _rpc(self, method: str, params: list) -> object:
        return await rpc_call(self.rpc_url, method, params, timeout=10)

    async def _fund(self, keypair: Keypair, lamports: int) -> None:
        await self._rpc("requestAirdrop", [str(keypair.pubkey()), lamports])

    async def _balance(self, pubkey: Pubkey) -> int:
        answer = await self._rpc("getBalance", [str(pubkey), {"commitment": "processed"}])
        return int(answer["value"])  # type: ignore[index]

    async def _token_amount(self, account: Pubkey) -> int:
        try:
            answer = await self._rpc(
                "getTokenAccountBalance", [str(account), {"commitment": "processed"}]
            )
        except RpcError:
            return 0  # no such token account yet
        return int(answer["value"]["amount"])  # type: ignore[index]

    async def _account_data(self, pubkey: Pubkey) -> bytes | None:
        answer = await self._rpc(
            "getAccountInfo", [str(pubkey), {"encoding": "base64", "commitment": "processed"}]
        )
        value = answer["value"]  # type: ignore[index]
        return base64.b64decode(value["data"][0]) if value else None

    async def _send(
        self, payer: Keypair, instructions: list[Instruction], *signers: Keypair
    ) -> bool:
        """Sign and send with preflight; True when it landed. The localnet executes a
        transaction within sendTransaction, so the next step sees its effects."""
        if self._blockhash is None or self.step_index % BLOCKHASH_REFRESH_STEPS == 0:
            latest = await self._rpc("getLatestBlockhash", [{"commitment": "processed"}])
            self._blockhash = Hash.from_string(latest["value"]["blockhash"])  # type: ignore[index]
        message = Message.new_with_blockhash(instructions, payer.pubkey(), self._blockhash)
        tx = VersionedTransaction(message, [payer, *signers])
        try:
            await self._rpc(
                "sendTransaction", [base64.b64encode(bytes(tx)).decode(), {"encoding": "base64"}]
            )
        except RpcError as exc:
            if "Blockhash not found" in exc.message:
                self._blockhash = None
            self.ledger.rejected += 1
            log.debug("market: transaction refused: %s", exc.message)
            return False
        self.ledger.transactions += 1
        return True

    # ---- the market -----------------------------------------------------------------------

    async def setup(self, wait_seconds: float = 0.0) -> None:
        """Fund the traders, waiting up to `wait_seconds` for the RPC to come up (under
        `make run` the localnet starts alongside)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while True:
            try:
                await self._rpc("getHealth", [])
                break
            except RpcUnavailable:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.5)
        for trader in self.traders:
            await self._fund(trader, TRADER_FUNDING)

    async def step(self) -> None:
        """One decision, one transaction (at most)."""
        index = self.step_index
        if index % self.config.steps_per_launch == 0:
            await self._launch(index)
        else:
            live = [coin for coin in self.coins if not coin.done]
            if live:
                # Newer coins draw more attention, as on the real Pulse board.
                weights = [1 + 0.5 * i for i in range(len(live))]
                coin = self.rng.choices(live, weights=weights)[0]
                await self._trade(coin)
        self.step_index += 1

    async def run(
        self, *, steps: int | None = None, seconds: float | None = None, wait_seconds: float = 0.0
    ) -> MarketLedger:
        """Run `steps` steps (as fast as the chain takes them), or for `seconds` (None:
        forever) at the configured rate."""
        await self.setup(wait_seconds)
        loop = asyncio.get_running_loop()
        started = loop.time()
        interval = 1 / self.config.trades_per_second
        while (steps is None or self.step_index < steps) and (
            seconds is None or loop.time() - started < seconds
        ):
            await self.step()
            if steps is None:
                delay = started + self.step_index * interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
        return self.ledger

    def _fate(self) -> Fate:
        roll = self.rng.random()
        if roll < self.config.graduation_share:
            return Fate.GRADUATE
        if roll < self.config.graduation_share + self.config.rug_share:
            return Fate.RUG
        return Fate.FIZZLE

    def _trader(self) -> Keypair:
        return self.rng.choice(self.traders)

    def _buy_size(self, graduate: bool) -> int:
        """Lamports to spend: log-normal around 0.4 SOL, bigger for a coin that runs."""
        median = self.config.graduate_buy_sol if graduate else 0.4
        return int(min(60.0, self.rng.lognormvariate(math.log(median), 0.8)) * SOL)

    async def _launch(self, index: int) -> None:
        creator = derived_keypair(self.config.seed, "creator", len(self.ledger.launches))
        mint = derived_keypair(self.config.seed, "mint", len(self.ledger.launches))
        fate = self._fate()
        await self._fund(creator, 50 * SOL)
        number = len(self.ledger.launches) + 1
        create = pump_ix.create(
            mint=mint.pubkey(),
            user=creator.pubkey(),
            creator=creator.pubkey(),
            name=f"Localnet Coin {number}",
            symbol=f"LC{number % 100000}",
            uri=f"https://localnet.invalid/coins/{number}.json",
        )
        if not await self._send(creator, [create], mint):
            return
        coin = Coin(mint.pubkey(), creator, fate, index)
        self.coins.append(coin)
        self.ledger.launches.append((str(mint.pubkey()), fate.value))
        # The creator buys first, as most pump.fun creators do (and a rug needs a bag).
        await self._curve_buy(coin, creator, int(self.rng.uniform(0.5, 2.0) * SOL))
        log.info("market: launched %s (%s)", mint.pubkey(), fate.value)

    async def _curve(self, coin: Coin) -> pump_accounts.BondingCurve | None:
        data = await self._account_data(pump_pdas.bonding_curve_pda(coin.mint))
        return pump_accounts.decode_bonding_curve(data) if data else None

    async def _trade(self, coin: Coin) -> None:
        coin.trades += 1
        if coin.migrated:
            await self._pool_trade(coin)
            return
        curve = await self._curve(coin)
        if curve is None:
            coin.done = True
            return
        if curve.complete:
            await self._migrate(coin)
            return
        if coin.fate is Fate.RUG and coin.trades > self.rng.randint(4, 9):
            await self._rug(coin)
            return
        if coin.fate is Fate.FIZZLE and coin.trades > self.rng.randint(6, 14):
            coin.done = True  # nobody trades it anymore
            return
        trader = self._trader()
        held = await self._token_amount(associated_token_address(trader.pubkey(), coin.mint))
        sell_odds = 0.15 if coin.fate is Fate.GRADUATE else 0.4
        if held and self.rng.random() < sell_odds:
            await self._curve_sell(coin, trader, curve, int(held * self.rng.uniform(0.25, 1.0)))
        else:
            await self._curve_buy(coin, trader, self._buy_size(coin.fate is Fate.GRADUATE), curve)

    async def _ensure_funds(self, trader: Keypair) -> None:
        if await self._balance(trader.pubkey()) < REFILL_BELOW:
            await self._fund(trader, TRADER_FUNDING)

    async def _curve_buy(
        self,
        coin: Coin,
        buyer: Keypair,
        lamports: int,
        curve: pump_accounts.BondingCurve | None = None,
    ) -> None:
        curve = curve or await self._curve(coin)
        if curve is None or curve.complete:
            return
        await self._ensure_funds(buyer)
        quote = curve_math.quote_buy_sol_in(curve, lamports, CURVE_FEE_RATES)
        if quote.tokens_out == 0:
            return
        buy = pump_ix.buy(
            user=buyer.pubkey(),
            mint=coin.mint,
            creator=coin.creator.pubkey(),
            fee_recipient=self.rng.choice(FEE_RECIPIENTS),
            buyback_fee_recipient=self.rng.choice(BUYBACK_FEE_RECIPIENTS),
            amount=quote.tokens_out,
            max_sol_cost=curve_math.with_slippage_max(quote.total_sol, SLIPPAGE_BPS),
        )
        if await self._send(buyer, [_create_ata(buyer.pubkey(), buyer.pubkey(), coin.mint), buy]):
            self.ledger.curve_trades += 1

    async def _curve_sell(
        self, coin: Coin, seller: Keypair, curve: pump_accounts.BondingCurve, tokens: int
    ) -> None:
        quote = curve_math.quote_sell(curve, tokens, CURVE_FEE_RATES)
        if tokens == 0 or quote.sol_received == 0:
            return
        sell = pump_ix.sell(
            user=seller.pubkey(),
            mint=coin.mint,
            creator=coin.creator.pubkey(),
            fee_recipient=self.rng.choice(FEE_RECIPIENTS),
            buyback_fee_recipient=self.rng.choice(BUYBACK_FEE_RECIPIENTS),
            amount=tokens,
            min_sol_output=curve_math.with_slippage_min(quote.sol_received, SLIPPAGE_BPS),
        )
        if await self._send(seller, [sell]):
            self.ledger.curve_trades += 1

    async def _rug(self, coin: Coin) -> None:
        """The creator dumps everything it holds; the coin is dead after this."""
        curve = await self._curve(coin)
        held = await self._token_amount(associated_token_address(coin.creator.pubkey(), coin.mint))
        if curve is not None and held:
            await self._curve_sell(coin, coin.creator, curve, held)
            self.ledger.rugs.append(str(coin.mint))
            log.info("market: %s rugged", coin.mint)
        coin.done = True

    async def _migrate(self, coin: Coin) -> None:
        migrator = self._trader()
        ix = pump_ix.migrate(
            user=migrator.pubkey(), mint=coin.mint, withdraw_authority=LEGACY_WITHDRAW_AUTHORITY
        )
        if await self._send(migrator, [ix]):
            coin.migrated = True
            coin.pool = pump_pdas.canonical_pool_pda(coin.mint, WSOL_MINT)
            self.ledger.graduations.append(str(coin.mint))
            log.info("market: %s graduated to PumpSwap pool %s", coin.mint, coin.pool)

    async def _pool_trade(self, coin: Coin) -> None:
        assert coin.pool is not None
        if coin.trades > 60:
            coin.done = True  # attention moves on
            return
        data = await self._account_data(coin.pool)
        if data is None:
            coin.done = True
            return
        pool = amm_accounts.decode_pool(data)
        reserves = quotes.PoolReserves.effective(
            pool,
            await self._token_amount(pool.pool_base_token_account),
            await self._token_amount(pool.pool_quote_token_account),
        )
        trader = self._trader()
        await self._ensure_funds(trader)
        base_ata = associated_token_address(trader.pubkey(), coin.mint)
        wsol_ata = associated_token_address(trader.pubkey(), WSOL_MINT)
        held = await self._token_amount(base_ata)
        recipient = self.rng.choice(PROTOCOL_FEE_RECIPIENTS)
        setup = [
            _create_ata(trader.pubkey(), trader.pubkey(), coin.mint),
            _create_ata(trader.pubkey(), trader.pubkey(), WSOL_MINT),
        ]
        if held and self.rng.random() < 0.4:
            tokens = int(held * self.rng.uniform(0.25, 1.0))
            swap = quotes.quote_sell_base_in(reserves, tokens, POOL_FEES)
            sell = amm_ix.sell(
                pool_address=coin.pool,
                pool=pool,
                user=trader.pubkey(),
                protocol_fee_recipient=recipient,
                base_amount_in=tokens,
                min_quote_amount_out=curve_math.with_slippage_min(
                    swap.user_quote_out, SLIPPAGE_BPS
                ),
            )
            if await self._send(trader, [*setup, sell]):
                self.ledger.pool_trades += 1
            return
        budget = self._buy_size(True)
        swap = quotes.quote_buy_quote_in(reserves, budget, POOL_FEES)
        if swap.base_amount == 0 or swap.base_amount >= reserves.base:
            return
        exact = quotes.quote_buy_base_out(reserves, swap.base_amount, POOL_FEES)
        buy = amm_ix.buy(
            pool_address=coin.pool,
            pool=pool,
            user=trader.pubkey(),
            protocol_fee_recipient=recipient,
            base_amount_out=exact.base_amount,
            max_quote_amount_in=exact.user_quote_in,
        )
        wrap = [
            transfer(
                TransferParams(
                    from_pubkey=trader.pubkey(), to_pubkey=wsol_ata, lamports=exact.user_quote_in
                )
            ),
            _sync_native(wsol_ata),
        ]
        if await self._send(trader, [*setup, *wrap, buy]):
            self.ledger.pool_trades += 1


def add_market_arguments(
    parser: argparse.ArgumentParser, defaults: MarketConfig | None = None
) -> None:
    """The generator's options, shared by `python -m` and `manage.py market`."""
    d = defaults or MarketConfig()
    parser.add_argument("--rpc-url", default="http://127.0.0.1:8899")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--launches-per-minute", type=float, default=d.launches_per_minute)
    parser.add_argument("--trades-per-second", type=float, default=d.trades_per_second)
    parser.add_argument("--traders", type=int, default=d.traders)
    parser.add_argument("--graduation-share", type=float, default=d.graduation_share)
    parser.add_argument("--rug-share", type=float, default=d.rug_share)
    parser.add_argument("--seconds", type=float, default=None, help="stop after (default: never)")


def config_from_args(args: argparse.Namespace) -> MarketConfig:
    return MarketConfig(
        seed=args.seed,
        launches_per_minute=args.launches_per_minute,
        trades_per_second=args.trades_per_second,
        traders=args.traders,
        graduation_share=args.graduation_share,
        rug_share=args.rug_share,
    )


def run_market(args: argparse.Namespace) -> None:
    """Run until Ctrl-C (or --seconds), logging each launch, graduation and rug."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    generator = MarketGenerator(args.rpc_url, config_from_args(args))

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, or honcho stopping us
            asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await generator.run(seconds=args.seconds, wait_seconds=60)
        finally:
            await close_http_session()

    asyncio.run(main())
    ledger = generator.ledger
    log.info(
        "market: %d launches, %d graduations, %d rugs, %d transactions (%d refused)",
        len(ledger.launches),
        len(ledger.graduations),
        len(ledger.rugs),
        ledger.transactions,
        ledger.rejected,
    )


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="market", description=__doc__.splitlines()[0])
    add_market_arguments(_parser)
    run_market(_parser.parse_args())
