"""Python models of programs the localnet cannot load as binaries (pump.fun, PumpSwap).

`install_pump_programs(chain)` registers both models and writes the accounts mainnet has
before any coin launches (pump `Global`, the fees program's `FeeConfig`s, PumpSwap's
`GlobalConfig`, funded fee recipients and their wrapped-SOL accounts), with the
documented values. See `apps/chain/localnet/modelled.py` for how a modelled program
runs inside a transaction, and each model's docstring for where it is simpler than the
real program.
"""

from __future__ import annotations

from solders.account import Account
from solders.pubkey import Pubkey

from apps.chain.programs.fees import FeeConfig, Fees, FeeTier
from apps.chain.programs.pump import accounts as pump_accounts
from apps.chain.programs.pump import constants as pump_constants
from apps.chain.programs.pump import pdas as pump_pdas
from apps.chain.programs.pump.program import PUMP, PUMP_FEES
from apps.chain.programs.pump_amm import accounts as amm_accounts
from apps.chain.programs.pump_amm import pdas as amm_pdas
from apps.chain.programs.pump_amm.program import PUMP_AMM
from apps.chain.programs.spl import associated_token_address

from ..chain import Chain
from ..records import NATIVE_MINT, SYSTEM_PROGRAM, TOKEN_PROGRAM
from . import token_state as ts
from .anchor_model import typed
from .pump import PumpModel
from .pump_amm import PumpAmmModel

# Fee rates the localnet's FeeConfigs charge (one tier each; mainnet's tiers are not
# published): pump 0.95 % protocol + 0.30 % creator, PumpSwap 0.20 % LP + 0.05 %
# protocol + 0.05 % coin creator.
CURVE_FEES = Fees(lp_fee_bps=0, protocol_fee_bps=95, creator_fee_bps=30)
POOL_FEES = Fees(lp_fee_bps=20, protocol_fee_bps=5, creator_fee_bps=5)
PROTOCOL_FEE_RECIPIENTS = tuple(
    Pubkey.find_program_address([b"localnet-protocol-fee-recipient", bytes([i])], SYSTEM_PROGRAM)[0]
    for i in range(8)
)
GENESIS_AUTHORITY = Pubkey.find_program_address([b"localnet-pump-authority"], SYSTEM_PROGRAM)[0]


def _program_account(chain: Chain, owner: Pubkey, data: bytes) -> Account:
    return Account(
        lamports=chain.minimum_balance_for_rent_exemption(len(data)),
        data=data,
        owner=owner,
        executable=False,
    )


def _fee_config(program_id: Pubkey, fees: Fees) -> bytes:
    bump = Pubkey.find_program_address([b"fee_config", bytes(program_id)], PUMP_FEES.program_id)[1]
    config = FeeConfig(
        bump=bump,
        admin=GENESIS_AUTHORITY,
        flat_fees=fees,
        fee_tiers=(FeeTier(market_cap_lamports_threshold=0, fees=fees),),
        stable_fee_tiers=(),
        exotic_flat_fees=fees,
    )
    return PUMP_FEES.encode_account("FeeConfig", config)


def install_pump_programs(chain: Chain) -> None:
    """Make pump.fun and PumpSwap callable on `chain`, as they are on mainnet."""
    chain.register_program_model(PumpModel())
    chain.register_program_model(PumpAmmModel())
    recipients = pump_constants.FEE_RECIPIENTS
    global_ = typed(
        PUMP,
        "Global",
        initialized=True,
        authority=GENESIS_AUTHORITY,
        fee_recipient=recipients[0],
        initial_virtual_token_reserves=pump_constants.INITIAL_VIRTUAL_TOKEN_RESERVES,
        initial_virtual_sol_reserves=pump_constants.INITIAL_VIRTUAL_SOL_RESERVES,
        initial_real_token_reserves=pump_constants.INITIAL_REAL_TOKEN_RESERVES,
        token_total_supply=pump_constants.TOKEN_TOTAL_SUPPLY,
        fee_basis_points=CURVE_FEES.protocol_fee_bps,
        withdraw_authority=pump_constants.LEGACY_WITHDRAW_AUTHORITY,
        enable_migrate=True,
        pool_migration_fee=pump_constants.POOL_MIGRATION_FEE,
        creator_fee_basis_points=CURVE_FEES.creator_fee_bps,
        fee_recipients=recipients[1:8],
        initial_virtual_quote_reserves=pump_constants.INITIAL_VIRTUAL_SOL_RESERVES,
    )
    config = typed(
        PUMP_AMM,
        "GlobalConfig",
        admin=GENESIS_AUTHORITY,
        lp_fee_basis_points=POOL_FEES.lp_fee_bps,
        protocol_fee_basis_points=POOL_FEES.protocol_fee_bps,
        protocol_fee_recipients=PROTOCOL_FEE_RECIPIENTS,
        coin_creator_fee_basis_points=POOL_FEES.creator_fee_bps,
    )
    accounts = {
        pump_pdas.global_pda(): _program_account(
            chain, PUMP.program_id, pump_accounts.encode_account(global_)
        ),
        pump_pdas.fee_config_pda(): _program_account(
            chain, PUMP_FEES.program_id, _fee_config(PUMP.program_id, CURVE_FEES)
        ),
        amm_pdas.global_config_pda(): _program_account(
            chain, PUMP_AMM.program_id, amm_accounts.encode_account(config)
        ),
        amm_pdas.fee_config_pda(): _program_account(
            chain, PUMP_FEES.program_id, _fee_config(PUMP_AMM.program_id, POOL_FEES)
        ),
    }
    system_rent = chain.minimum_balance_for_rent_exemption(0)
    for recipient in (*recipients, pump_constants.LEGACY_WITHDRAW_AUTHORITY):
        accounts[recipient] = Account(
            lamports=system_rent, data=b"", owner=SYSTEM_PROGRAM, executable=False
        )
    token_rent = chain.minimum_balance_for_rent_exemption(ts.TOKEN_ACCOUNT_LEN)
    for recipient in PROTOCOL_FEE_RECIPIENTS:
        # PumpSwap pays protocol fees into each recipient's wrapped-SOL account.
        wsol = associated_token_address(recipient, NATIVE_MINT, TOKEN_PROGRAM)
        data = ts.token_account_data(
            mint=NATIVE_MINT, owner=recipient, amount=0, native_rent=token_rent
        )
        accounts[wsol] = Account(
            lamports=token_rent, data=data, owner=TOKEN_PROGRAM, executable=False
        )
    for pubkey, account in accounts.items():
        chain.set_account(pubkey, account)


__all__ = ["CURVE_FEES", "POOL_FEES", "PROTOCOL_FEE_RECIPIENTS", "install_pump_programs"]
