"""The PumpSwap AMM program, modelled for the localnet: `buy` and `sell` on a pool.

Pools come from pump's `migrate` (see pump.py). Trades use the constant-product quotes of
`apps.chain.programs.pump_amm.quotes` on the pool's effective reserves, with the fee rates
of the fees program's FeeConfig (or GlobalConfig's): the LP fee stays in the pool, the
protocol fee goes to a protocol fee recipient's wrapped-SOL account, the coin creator's
to its vault's wrapped-SOL account (created on first use).

Simpler than the real program: pool creation, deposits and withdrawals other than a
migration, volume accumulators, cashback and buyback fees are not modelled, and a
`buy_exact_quote_in` fails with InstructionFallbackNotFound.
"""

from __future__ import annotations

import struct

from apps.chain.programs.pump_amm import accounts as amm_accounts
from apps.chain.programs.pump_amm import quotes
from apps.chain.programs.pump_amm.program import PUMP_AMM

from ..records import NATIVE_MINT
from . import token_state as ts
from .anchor_model import AnchorModel, Invocation, anchor_failure, typed

BASE, QUOTE = "base", "quote"


def _token_transfer_data(amount: int) -> bytes:
    return struct.pack("<BQ", 3, amount)


class PumpAmmModel(AnchorModel):
    def __init__(self) -> None:
        super().__init__(PUMP_AMM, {"buy": self.buy, "sell": self.sell})

    def _pool(self, inv: Invocation) -> amm_accounts.Pool:
        account = inv.state.get(inv.key("pool"))
        if account is None:
            raise anchor_failure("AccountNotInitialized", account="pool")
        if account.owner != self.program_id:
            raise anchor_failure("AccountOwnedByWrongProgram", account="pool")
        data = bytes(account.data)
        if PUMP_AMM.account_name(data) != "Pool":
            raise anchor_failure("AccountDiscriminatorMismatch", account="pool")
        return amm_accounts.decode_pool(data)

    def _prepare(
        self, inv: Invocation
    ) -> tuple[amm_accounts.Pool, quotes.PoolReserves, quotes.Fees]:
        pool = self._pool(inv)
        config_account = inv.state.get(inv.key("global_config"))
        if config_account is None:
            raise anchor_failure("AccountNotInitialized", account="global_config")
        config = amm_accounts.decode_global_config(bytes(config_account.data))
        inv.verify_pdas({"pool.coin_creator": pool.coin_creator})
        for name, expected, error in (
            ("base_mint", pool.base_mint, "InvalidBaseMint"),
            ("quote_mint", pool.quote_mint, "InvalidQuoteMint"),
            (
                "pool_base_token_account",
                pool.pool_base_token_account,
                "InvalidPoolBaseTokenAccount",
            ),
            (
                "pool_quote_token_account",
                pool.pool_quote_token_account,
                "InvalidPoolQuoteTokenAccount",
            ),
        ):
            if inv.key(name) != expected:
                raise self.errors(error)
        if inv.key("protocol_fee_recipient") not in config.protocol_fee_recipients:
            raise self.errors("InvalidProtocolFeeRecipient")
        for name in ("user_base_token_account", "user_quote_token_account"):
            owned = ts.token_account(inv.state, inv.key(name))
            if owned is None or owned[1] != inv.key("user"):
                raise anchor_failure("AccountNotInitialized", account=name)
        reserves = quotes.PoolReserves.effective(
            pool,
            ts.token_amount(inv.state, pool.pool_base_token_account),
            ts.token_amount(inv.state, pool.pool_quote_token_account),
        )
        fee_account = inv.state.get(inv.key("fee_config"))
        fee_config = (
            amm_accounts.decode_fee_config(bytes(fee_account.data)) if fee_account else None
        )
        fees = quotes.pool_fees(
            config,
            pool,
            reserves=reserves,
            fee_config=fee_config,
            base_supply=ts.mint_supply(inv.state, pool.base_mint),
        )
        return pool, reserves, fees

    def _creator_vault(self, inv: Invocation, pool: amm_accounts.Pool) -> None:
        """The coin creator's wrapped-SOL vault, created the first time a fee is paid."""
        vault = inv.key("coin_creator_vault_ata")
        if pool.has_coin_creator and ts.token_account(inv.state, vault) is None:
            rent = inv.state.rent_exempt_minimum(ts.TOKEN_ACCOUNT_LEN)
            ts.create_account(
                inv.state,
                inv.key("user"),
                vault,
                owner=inv.key("quote_token_program"),
                data=ts.token_account_data(
                    mint=NATIVE_MINT,
                    owner=inv.key("coin_creator_vault_authority"),
                    amount=0,
                    native_rent=rent,
                ),
            )

    def _pay_fees(self, inv: Invocation, source: str, quote: quotes.SwapQuote) -> None:
        for destination, amount in (
            ("protocol_fee_recipient_token_account", quote.protocol_fee),
            ("coin_creator_vault_ata", quote.coin_creator_fee),
        ):
            if amount:
                self._transfer(inv, QUOTE, source, destination, amount)

    def _transfer(
        self, inv: Invocation, side: str, source: str, destination: str, amount: int
    ) -> None:
        """A token transfer by CPI into the base or quote side's token program."""
        ts.move_tokens(inv.state, inv.key(source), inv.key(destination), amount)
        inv.cpi(
            inv.key(f"{side}_token_program"),
            [inv.key(source), inv.key(destination)],
            _token_transfer_data(amount),
        )

    def buy(self, inv: Invocation) -> None:
        base_out, max_quote_in = inv.args["base_amount_out"], inv.args["max_quote_amount_in"]
        pool, reserves, fees = self._prepare(inv)
        if base_out == 0:
            raise self.errors("ZeroBaseAmount")
        if base_out >= reserves.base:
            raise self.errors("BuyMoreBaseAmountThanPoolReserves")
        quote = quotes.quote_buy_base_out(reserves, base_out, fees)
        if quote.user_quote_in > max_quote_in:
            raise self.errors("ExceededSlippage")
        self._creator_vault(inv, pool)
        # The LP fee stays in the pool with the swap amount.
        self._transfer(
            inv,
            QUOTE,
            "user_quote_token_account",
            "pool_quote_token_account",
            quote.quote_amount + quote.lp_fee,
        )
        self._pay_fees(inv, "user_quote_token_account", quote)
        self._transfer(inv, BASE, "pool_base_token_account", "user_base_token_account", base_out)
        self._emit(
            inv,
            "BuyEvent",
            pool,
            quote,
            fees,
            max_quote_amount_in=max_quote_in,
            base_amount_out=base_out,
            quote_amount_in=quote.quote_amount,
            quote_amount_in_with_lp_fee=quote.quote_amount + quote.lp_fee,
            user_quote_amount_in=quote.user_quote_in,
            ix_name="buy",
        )

    def sell(self, inv: Invocation) -> None:
        base_in, min_quote_out = inv.args["base_amount_in"], inv.args["min_quote_amount_out"]
        pool, reserves, fees = self._prepare(inv)
        if base_in == 0:
            raise self.errors("ZeroBaseAmount")
        quote = quotes.quote_sell_base_in(reserves, base_in, fees)
        if quote.user_quote_out < min_quote_out:
            raise self.errors("ExceededSlippage")
        self._creator_vault(inv, pool)
        self._transfer(inv, BASE, "user_base_token_account", "pool_base_token_account", base_in)
        self._transfer(
            inv, QUOTE, "pool_quote_token_account", "user_quote_token_account", quote.user_quote_out
        )
        self._pay_fees(inv, "pool_quote_token_account", quote)
        self._emit(
            inv,
            "SellEvent",
            pool,
            quote,
            fees,
            min_quote_amount_out=min_quote_out,
            base_amount_in=base_in,
            quote_amount_out=quote.quote_amount,
            quote_amount_out_without_lp_fee=quote.quote_amount - quote.lp_fee,
            user_quote_amount_out=quote.user_quote_out,
        )

    def _emit(
        self,
        inv: Invocation,
        name: str,
        pool: amm_accounts.Pool,
        quote: quotes.SwapQuote,
        fees: quotes.Fees,
        **fields: object,
    ) -> None:
        state = inv.state
        inv.emit(
            name,
            typed(
                PUMP_AMM,
                name,
                timestamp=state.unix_timestamp(),
                user_base_token_reserves=ts.token_amount(state, inv.key("user_base_token_account")),
                user_quote_token_reserves=ts.token_amount(
                    state, inv.key("user_quote_token_account")
                ),
                pool_base_token_reserves=ts.token_amount(state, pool.pool_base_token_account),
                pool_quote_token_reserves=ts.token_amount(state, pool.pool_quote_token_account),
                lp_fee_basis_points=fees.lp_fee_bps,
                lp_fee=quote.lp_fee,
                protocol_fee_basis_points=fees.protocol_fee_bps,
                protocol_fee=quote.protocol_fee,
                pool=inv.key("pool"),
                user=inv.key("user"),
                user_base_token_account=inv.key("user_base_token_account"),
                user_quote_token_account=inv.key("user_quote_token_account"),
                protocol_fee_recipient=inv.key("protocol_fee_recipient"),
                protocol_fee_recipient_token_account=inv.key(
                    "protocol_fee_recipient_token_account"
                ),
                coin_creator=pool.coin_creator,
                coin_creator_fee_basis_points=fees.creator_fee_bps,
                coin_creator_fee=quote.coin_creator_fee,
                base_supply=ts.mint_supply(state, pool.base_mint),
                **fields,
            ),
        )
