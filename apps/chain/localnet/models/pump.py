"""The pump.fun bonding-curve program, modelled for the localnet.

What is modelled: `create` (SPL mint, curve, its token account, Metaplex metadata),
`buy`, `buy_exact_sol_in`, `sell` and `migrate` (to a canonical PumpSwap pool), with the
IDL's account checks, fee tiers from the fees program's FeeConfig, the curve math of
`apps.chain.programs.pump.curve` (the same code the platform quotes with), the IDL's
error codes and the program's events (`emit_cpi!`).

Simpler than the real program, said plainly: volume accumulators, cashback, buyback
fees, mayhem mode, Token-2022 coins (`create_v2`) and the `*_v2` instructions are not
modelled (they fail with InstructionFallbackNotFound); the creator vault and fee
recipients receive lamports directly; the LP tokens a migration mints are not created.
"""

from __future__ import annotations

import dataclasses
import math
import struct

from solders.pubkey import Pubkey

from apps.chain.programs.pump import accounts as pump_accounts
from apps.chain.programs.pump import curve as curve_math
from apps.chain.programs.pump.constants import PUMP_AMM_PROGRAM_ID
from apps.chain.programs.pump.program import PUMP
from apps.chain.programs.pump_amm import accounts as amm_accounts
from apps.chain.programs.pump_amm.program import PUMP_AMM

from ..records import SYSTEM_PROGRAM, TOKEN_PROGRAM
from . import token_state as ts
from .anchor_model import AnchorModel, Invocation, anchor_failure, typed

METAPLEX_PROGRAM = Pubkey.from_string("metaqbxxUerdq28cj1RbAWkYQm3ybzjb6a8bt518x1s")
WSOL_MINT = Pubkey.from_string("So11111111111111111111111111111111111111112")
TOKEN_DECIMALS = 6
POOL_ACCOUNT_SIZE = 300  # PumpSwap pools are reallocated to 300 bytes


def _system_transfer_data(lamports: int) -> bytes:
    return struct.pack("<IQ", 2, lamports)


def _token_transfer_data(amount: int) -> bytes:
    return struct.pack("<BQ", 3, amount)


class PumpModel(AnchorModel):
    def __init__(self) -> None:
        super().__init__(
            PUMP,
            {
                "create": self.create,
                "buy": self.buy,
                "buy_exact_sol_in": self.buy_exact_sol_in,
                "sell": self.sell,
                "migrate": self.migrate,
            },
        )

    # ---- shared reads ------------------------------------------------------------------

    def _global(self, inv: Invocation) -> pump_accounts.Global:
        account = inv.state.get(inv.key("global"))
        if account is None:
            raise anchor_failure("AccountNotInitialized", account="global")
        return pump_accounts.decode_global(bytes(account.data))

    def _curve(self, inv: Invocation) -> tuple[pump_accounts.BondingCurve, int]:
        """The curve and its on-chain length (kept when it is written back)."""
        account = inv.state.get(inv.key("bonding_curve"))
        if account is None:
            raise anchor_failure("AccountNotInitialized", account="bonding_curve")
        if account.owner != self.program_id:
            raise anchor_failure("AccountOwnedByWrongProgram", account="bonding_curve")
        data = bytes(account.data)
        if PUMP.account_name(data) != "BondingCurve":
            raise anchor_failure("AccountDiscriminatorMismatch", account="bonding_curve")
        return pump_accounts.decode_bonding_curve(data), len(data)

    def _write_curve(self, inv: Invocation, curve: pump_accounts.BondingCurve, size: int) -> None:
        account = inv.state.get(inv.key("bonding_curve"))
        assert account is not None
        data = pump_accounts.encode_account(curve, size=size)
        inv.state.set(inv.key("bonding_curve"), ts._with(account, data=data))

    def _fees(
        self, inv: Invocation, global_: pump_accounts.Global, curve: pump_accounts.BondingCurve
    ) -> curve_math.CurveFees:
        fee_config = None
        account = inv.state.get(inv.key("fee_config")) if "fee_config" in inv.accounts else None
        if account is not None and account.data:
            fee_config = pump_accounts.decode_fee_config(bytes(account.data))
        return curve_math.curve_fees(global_, curve, fee_config)

    def _check_trade(
        self, inv: Invocation
    ) -> tuple[pump_accounts.Global, pump_accounts.BondingCurve, int]:
        global_ = self._global(inv)
        curve, size = self._curve(inv)
        inv.verify_pdas({"bonding_curve.creator": curve.creator})
        recipients = {global_.fee_recipient, *global_.fee_recipients}
        if inv.key("fee_recipient") not in recipients:
            raise self.errors("NotAuthorized")
        if curve.complete:
            raise self.errors("BondingCurveComplete")
        user_tokens = ts.token_account(inv.state, inv.key("associated_user"))
        if user_tokens is None:
            raise anchor_failure("AccountNotInitialized", account="associated_user")
        if user_tokens[0] != inv.key("mint") or user_tokens[1] != inv.key("user"):
            raise self.errors("MintDoesNotMatchBondingCurve")
        return global_, curve, size

    # ---- trades --------------------------------------------------------------------------

    def buy(self, inv: Invocation) -> None:
        amount, max_sol_cost = inv.args["amount"], inv.args["max_sol_cost"]
        global_, curve, size = self._check_trade(inv)
        if amount == 0:
            raise self.errors("BuyZeroAmount")
        fees = self._fees(inv, global_, curve)
        quote = curve_math.quote_buy_tokens(curve, amount, fees)
        if quote.total_sol > max_sol_cost:
            raise self.errors("TooMuchSolRequired")
        self._settle_buy(inv, global_, curve, size, quote, fees)

    def buy_exact_sol_in(self, inv: Invocation) -> None:
        spendable, min_tokens = inv.args["spendable_sol_in"], inv.args["min_tokens_out"]
        global_, curve, size = self._check_trade(inv)
        fees = self._fees(inv, global_, curve)
        quote = curve_math.quote_buy_sol_in(curve, spendable, fees)
        if quote.tokens_out == 0:
            raise self.errors("BuyZeroAmount")
        if quote.tokens_out < min_tokens:
            raise self.errors("BuySlippageBelowMinTokensOut")
        self._settle_buy(inv, global_, curve, size, quote, fees)

    def _settle_buy(
        self,
        inv: Invocation,
        global_: pump_accounts.Global,
        curve: pump_accounts.BondingCurve,
        size: int,
        quote: curve_math.BuyQuote,
        fees: curve_math.CurveFees,
    ) -> None:
        user, bonding_curve = inv.key("user"), inv.key("bonding_curve")
        for destination, lamports in (
            (bonding_curve, quote.sol_cost),
            (inv.key("fee_recipient"), quote.protocol_fee),
            (inv.key("creator_vault"), quote.creator_fee),
        ):
            if lamports:
                ts.move_lamports(inv.state, user, destination, lamports)
                inv.cpi(SYSTEM_PROGRAM, [user, destination], _system_transfer_data(lamports))
        ts.move_tokens(
            inv.state,
            inv.key("associated_bonding_curve"),
            inv.key("associated_user"),
            quote.tokens_out,
        )
        inv.cpi(
            inv.key("token_program"),
            [inv.key("associated_bonding_curve"), inv.key("associated_user"), bonding_curve],
            _token_transfer_data(quote.tokens_out),
        )
        after = curve_math.apply_buy(curve, quote)
        self._write_curve(inv, after, size)
        self._trade_event(
            inv,
            after,
            fees,
            quote.sol_cost,
            quote.tokens_out,
            True,
            quote.protocol_fee,
            quote.creator_fee,
        )
        if after.complete:
            inv.emit(
                "CompleteEvent",
                typed(
                    PUMP,
                    "CompleteEvent",
                    user=user,
                    mint=inv.key("mint"),
                    bonding_curve=bonding_curve,
                    timestamp=inv.state.unix_timestamp(),
                ),
            )

    def sell(self, inv: Invocation) -> None:
        amount, min_sol_output = inv.args["amount"], inv.args["min_sol_output"]
        global_, curve, size = self._check_trade(inv)
        if amount == 0:
            raise self.errors("SellZeroAmount")
        fees = self._fees(inv, global_, curve)
        quote = curve_math.quote_sell(curve, amount, fees)
        if quote.sol_received < min_sol_output:
            raise self.errors("TooLittleSolReceived")
        user, bonding_curve = inv.key("user"), inv.key("bonding_curve")
        ts.move_tokens(
            inv.state, inv.key("associated_user"), inv.key("associated_bonding_curve"), amount
        )
        inv.cpi(
            inv.key("token_program"),
            [inv.key("associated_user"), inv.key("associated_bonding_curve"), user],
            _token_transfer_data(amount),
        )
        # The curve owns its account, so the program debits it directly (no CPI).
        ts.move_lamports(inv.state, bonding_curve, user, quote.sol_received)
        ts.move_lamports(inv.state, bonding_curve, inv.key("fee_recipient"), quote.protocol_fee)
        ts.move_lamports(inv.state, bonding_curve, inv.key("creator_vault"), quote.creator_fee)
        after = curve_math.apply_sell(curve, quote)
        self._write_curve(inv, after, size)
        self._trade_event(
            inv, after, fees, quote.sol_out, amount, False, quote.protocol_fee, quote.creator_fee
        )

    def _trade_event(
        self,
        inv: Invocation,
        after: pump_accounts.BondingCurve,
        fees: curve_math.CurveFees,
        sol_amount: int,
        token_amount: int,
        is_buy: bool,
        protocol_fee: int,
        creator_fee: int,
    ) -> None:
        inv.emit(
            "TradeEvent",
            typed(
                PUMP,
                "TradeEvent",
                mint=inv.key("mint"),
                sol_amount=sol_amount,
                token_amount=token_amount,
                is_buy=is_buy,
                user=inv.key("user"),
                timestamp=inv.state.unix_timestamp(),
                virtual_sol_reserves=after.virtual_quote_reserves,
                virtual_token_reserves=after.virtual_token_reserves,
                real_sol_reserves=after.real_quote_reserves,
                real_token_reserves=after.real_token_reserves,
                fee_recipient=inv.key("fee_recipient"),
                fee_basis_points=fees.protocol_fee_bps,
                fee=protocol_fee,
                creator=after.creator,
                creator_fee_basis_points=fees.creator_fee_bps,
                creator_fee=creator_fee,
                # OptionBool is a one-field struct: (value,); sells have no such argument.
                track_volume=bool(inv.args.get("track_volume", (False,))[0]),
                ix_name=inv.name,
                quote_amount=sol_amount,
                virtual_quote_reserves=after.virtual_quote_reserves,
                real_quote_reserves=after.real_quote_reserves,
            ),
        )

    # ---- launch ----------------------------------------------------------------------------

    def create(self, inv: Invocation) -> None:
        name, symbol, uri, creator = (inv.args[k] for k in ("name", "symbol", "uri", "creator"))
        for label, value, limit in (("Name", name, 32), ("Symbol", symbol, 10), ("Uri", uri, 200)):
            if len(value.encode()) > limit:
                raise self.errors(f"{label}TooLong")
        if creator == Pubkey.default():
            raise self.errors("CreatorShouldNotBeZero")
        inv.verify_pdas()
        global_ = self._global(inv)
        user, mint = inv.key("user"), inv.key("mint")
        bonding_curve = inv.key("bonding_curve")
        supply = global_.token_total_supply
        # The whole supply is minted to the curve, then the mint authority is revoked.
        ts.create_account(
            inv.state,
            user,
            mint,
            owner=TOKEN_PROGRAM,
            data=ts.mint_data(decimals=TOKEN_DECIMALS, supply=supply, mint_authority=None),
        )
        curve = curve_math.fresh_curve(creator=creator, global_=global_)
        ts.create_account(
            inv.state,
            user,
            bonding_curve,
            owner=self.program_id,
            data=pump_accounts.encode_account(curve),
        )
        ts.create_account(
            inv.state,
            user,
            inv.key("associated_bonding_curve"),
            owner=TOKEN_PROGRAM,
            data=ts.token_account_data(mint=mint, owner=bonding_curve, amount=supply),
        )
        ts.create_account(
            inv.state,
            user,
            inv.key("metadata"),
            owner=METAPLEX_PROGRAM,
            data=_metaplex_metadata(inv.key("mint_authority"), mint, name, symbol, uri),
        )
        inv.emit(
            "CreateEvent",
            typed(
                PUMP,
                "CreateEvent",
                name=name,
                symbol=symbol,
                uri=uri,
                mint=mint,
                bonding_curve=bonding_curve,
                user=user,
                creator=creator,
                timestamp=inv.state.unix_timestamp(),
                virtual_token_reserves=curve.virtual_token_reserves,
                virtual_sol_reserves=curve.virtual_quote_reserves,
                real_token_reserves=curve.real_token_reserves,
                token_total_supply=supply,
                token_program=TOKEN_PROGRAM,
                virtual_quote_reserves=curve.virtual_quote_reserves,
            ),
        )

    # ---- graduation ------------------------------------------------------------------------

    def migrate(self, inv: Invocation) -> None:
        global_ = self._global(inv)
        curve, size = self._curve(inv)
        # Token accounts are checked as the associated accounts they are below.
        inv.verify_pdas(
            skip=(
                "associated_bonding_curve",
                "pool_base_token_account",
                "pool_quote_token_account",
                "pool_authority_mint_account",
                "pool_authority_wsol_account",
                "user_pool_token_account",
            )
        )
        if inv.key("withdraw_authority") != global_.withdraw_authority:
            raise self.errors("NotAuthorized")
        if not curve.complete:
            raise self.errors("BondingCurveNotComplete")
        pool_key, mint = inv.key("pool"), inv.key("mint")
        existing = inv.state.get(pool_key)
        if existing is not None and existing.data:
            inv.log("Bonding curve already migrated")  # migrate is idempotent
            return
        if not global_.enable_migrate:
            raise self.errors("DisabledMigrate")
        if curve.real_quote_reserves < global_.pool_migration_fee:
            raise self.errors("PoolMigrationFeeShouldBeLessThanFinalRealSolReserves")
        user, bonding_curve = inv.key("user"), inv.key("bonding_curve")
        base_amount = ts.token_amount(inv.state, inv.key("associated_bonding_curve"))
        quote_amount = curve.real_quote_reserves - global_.pool_migration_fee
        base_vault, quote_vault = (
            inv.key("pool_base_token_account"),
            inv.key("pool_quote_token_account"),
        )
        lp_mint = inv.key("lp_mint")
        # The pool's vaults: an ordinary token account and a wrapped-SOL one.
        ts.create_account(
            inv.state,
            user,
            base_vault,
            owner=TOKEN_PROGRAM,
            data=ts.token_account_data(mint=mint, owner=pool_key, amount=0),
        )
        ts.create_account(
            inv.state,
            user,
            quote_vault,
            owner=TOKEN_PROGRAM,
            data=ts.token_account_data(
                mint=WSOL_MINT,
                owner=pool_key,
                amount=0,
                native_rent=inv.state.rent_exempt_minimum(ts.TOKEN_ACCOUNT_LEN),
            ),
        )
        ts.move_tokens(inv.state, inv.key("associated_bonding_curve"), base_vault, base_amount)
        ts.move_lamports(inv.state, bonding_curve, quote_vault, quote_amount)
        ts.set_token_amount(inv.state, quote_vault, quote_amount)
        ts.move_lamports(
            inv.state, bonding_curve, inv.key("withdraw_authority"), global_.pool_migration_fee
        )
        lp_supply = math.isqrt(base_amount * quote_amount)
        ts.create_account(
            inv.state,
            user,
            lp_mint,
            owner=inv.key("token_2022_program"),
            data=ts.mint_data(decimals=9, supply=0, mint_authority=inv.key("pool_authority")),
        )
        pool_bump = Pubkey.find_program_address(
            [
                b"pool",
                struct.pack("<H", 0),
                bytes(inv.key("pool_authority")),
                bytes(mint),
                bytes(WSOL_MINT),
            ],
            PUMP_AMM_PROGRAM_ID,
        )[1]
        pool = typed(
            PUMP_AMM,
            "Pool",
            pool_bump=pool_bump,
            index=0,
            creator=inv.key("pool_authority"),
            base_mint=mint,
            quote_mint=WSOL_MINT,
            lp_mint=lp_mint,
            pool_base_token_account=base_vault,
            pool_quote_token_account=quote_vault,
            lp_supply=lp_supply,
            coin_creator=curve.creator,
        )
        ts.create_account(
            inv.state,
            user,
            pool_key,
            owner=PUMP_AMM_PROGRAM_ID,
            data=amm_accounts.encode_account(pool, size=POOL_ACCOUNT_SIZE),
        )
        drained = dataclasses.replace(
            curve,
            virtual_token_reserves=0,
            virtual_quote_reserves=0,
            real_token_reserves=0,
            real_quote_reserves=0,
        )
        self._write_curve(inv, drained, size)
        now = inv.state.unix_timestamp()
        amm_event = typed(
            PUMP_AMM,
            "CreatePoolEvent",
            timestamp=now,
            index=0,
            creator=inv.key("pool_authority"),
            base_mint=mint,
            quote_mint=WSOL_MINT,
            base_mint_decimals=TOKEN_DECIMALS,
            quote_mint_decimals=9,
            base_amount_in=base_amount,
            quote_amount_in=quote_amount,
            pool_base_amount=base_amount,
            pool_quote_amount=quote_amount,
            initial_liquidity=lp_supply,
            lp_token_amount_out=lp_supply,
            pool_bump=pool_bump,
            pool=pool_key,
            lp_mint=lp_mint,
            coin_creator=curve.creator,
        )
        inv.cpi(
            PUMP_AMM_PROGRAM_ID,
            [inv.key("pump_amm_event_authority")],
            PUMP_AMM.encode_event_instruction("CreatePoolEvent", amm_event),
        )
        inv.emit(
            "CompletePumpAmmMigrationEvent",
            typed(
                PUMP,
                "CompletePumpAmmMigrationEvent",
                user=user,
                mint=mint,
                mint_amount=base_amount,
                sol_amount=quote_amount,
                pool_migration_fee=global_.pool_migration_fee,
                bonding_curve=bonding_curve,
                timestamp=now,
                pool=pool_key,
            ),
        )


def _metaplex_metadata(
    update_authority: Pubkey, mint: Pubkey, name: str, symbol: str, uri: str
) -> bytes:
    """Metaplex MetadataV1 (key 4) with Borsh strings padded as Token Metadata pads them,
    enough for anything that reads a coin's name, symbol and uri."""

    def padded(text: str, size: int) -> bytes:
        raw = text.encode().ljust(size, b"\0")
        return struct.pack("<I", len(raw)) + raw

    return (
        bytes([4])
        + bytes(update_authority)
        + bytes(mint)
        + padded(name, 32)
        + padded(symbol, 10)
        + padded(uri, 200)
        + struct.pack("<H", 0)  # seller_fee_basis_points
        + bytes([0])  # creators: None
        + bytes([0, 0])  # primary_sale_happened, is_mutable
    )
