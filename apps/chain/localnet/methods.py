"""Cluster, account and fee methods of the localnet's JSON-RPC.

Each handler takes the positional params list and returns the JSON `result`, or
raises RpcError. Transaction methods live in tx_methods.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import params as p
from .chain import Chain
from .encoding import check_account_encoding, encode_account
from .errors import invalid_params
from .records import fee_for_message
from .token_methods import TokenMethods
from .tx_methods import TransactionMethods

SOLANA_CORE_VERSION = "2.3.0"
FEATURE_SET = 3_294_202_862
MAX_MULTIPLE_ACCOUNTS = 100
MAX_PRIORITIZATION_FEE_ACCOUNTS = 128

Handler = Callable[[list[Any]], Any]


class RpcMethods(TransactionMethods, TokenMethods):
    """Dispatch table from JSON-RPC method name to handler over one Chain."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.handlers: dict[str, Handler] = {
            "getHealth": self.get_health,
            "getVersion": self.get_version,
            "getGenesisHash": self.get_genesis_hash,
            "getSlot": self.get_slot,
            "getBlockHeight": self.get_block_height,
            "getEpochInfo": self.get_epoch_info,
            "getLatestBlockhash": self.get_latest_blockhash,
            "isBlockhashValid": self.is_blockhash_valid,
            "getFeeForMessage": self.get_fee_for_message,
            "getMinimumBalanceForRentExemption": self.get_minimum_balance_for_rent_exemption,
            "getBalance": self.get_balance,
            "getAccountInfo": self.get_account_info,
            "getMultipleAccounts": self.get_multiple_accounts,
            "getRecentPrioritizationFees": self.get_recent_prioritization_fees,
            "requestAirdrop": self.request_airdrop,
            "sendTransaction": self.send_transaction,
            "simulateTransaction": self.simulate_transaction,
            "getSignatureStatuses": self.get_signature_statuses,
            "getTransaction": self.get_transaction,
            "getSignaturesForAddress": self.get_signatures_for_address,
            **self.token_handlers(),
        }

    def context(self, slot: int, value: Any) -> dict[str, Any]:
        return {"context": {"apiVersion": SOLANA_CORE_VERSION, "slot": slot}, "value": value}

    # ---- cluster -----------------------------------------------------------------

    def get_health(self, params: list[Any]) -> Any:
        return "ok"

    def get_version(self, params: list[Any]) -> Any:
        return {"feature-set": FEATURE_SET, "solana-core": SOLANA_CORE_VERSION}

    def get_genesis_hash(self, params: list[Any]) -> Any:
        record = self.chain.slot_record(0)
        return str(record.blockhash) if record else None

    def get_slot(self, params: list[Any]) -> Any:
        return p.context_slot(self.chain, p.config_arg(params, 0))

    def get_block_height(self, params: list[Any]) -> Any:
        # No slot is ever skipped here, so block height and slot coincide.
        return p.context_slot(self.chain, p.config_arg(params, 0))

    def get_epoch_info(self, params: list[Any]) -> Any:
        slot = p.context_slot(self.chain, p.config_arg(params, 0))
        per_epoch = 432_000
        return {
            "absoluteSlot": slot,
            "blockHeight": slot,
            "epoch": slot // per_epoch,
            "slotIndex": slot % per_epoch,
            "slotsInEpoch": per_epoch,
            "transactionCount": None,
        }

    def get_latest_blockhash(self, params: list[Any]) -> Any:
        cfg = p.config_arg(params, 0)
        slot = p.context_slot(self.chain, cfg)
        blockhash, last_valid = self.chain.latest_blockhash(p.commitment(cfg))
        return self.context(slot, {"blockhash": str(blockhash), "lastValidBlockHeight": last_valid})

    def is_blockhash_valid(self, params: list[Any]) -> Any:
        p.require(params, 1)
        blockhash = p.blockhash(params[0])
        slot = p.context_slot(self.chain, p.config_arg(params, 1))
        return self.context(slot, self.chain.is_blockhash_valid(blockhash))

    def get_fee_for_message(self, params: list[Any]) -> Any:
        p.require(params, 1)
        message = p.message(params[0])
        slot = p.context_slot(self.chain, p.config_arg(params, 1))
        valid = self.chain.is_blockhash_valid(message.recent_blockhash)
        return self.context(slot, fee_for_message(message) if valid else None)

    def get_minimum_balance_for_rent_exemption(self, params: list[Any]) -> Any:
        p.require(params, 1)
        data_len = params[0]
        if isinstance(data_len, bool) or not isinstance(data_len, int) or not 0 <= data_len < 2**64:
            raise p.type_error(data_len, "usize")
        p.context_slot(self.chain, p.config_arg(params, 1))
        return self.chain.minimum_balance_for_rent_exemption(data_len)

    def get_recent_prioritization_fees(self, params: list[Any]) -> Any:
        keys = (
            p.list_arg(params, 0, max_len=MAX_PRIORITIZATION_FEE_ACCOUNTS)
            if params and params[0] is not None
            else []
        )
        accounts = [p.pubkey(k) for k in keys]
        return [
            {"prioritizationFee": fee, "slot": slot}
            for slot, fee in self.chain.recent_prioritization_fees(accounts)
        ]

    # ---- accounts ----------------------------------------------------------------

    def get_balance(self, params: list[Any]) -> Any:
        p.require(params, 1)
        key = p.pubkey(params[0])
        slot = p.context_slot(self.chain, p.config_arg(params, 1))
        return self.context(slot, self.chain.get_balance(key))

    def get_account_info(self, params: list[Any]) -> Any:
        p.require(params, 1)
        key = p.pubkey(params[0])
        cfg = p.config_arg(params, 1)
        encoding = check_account_encoding(cfg.get("encoding"))
        slot = p.context_slot(self.chain, cfg)
        return self.context(slot, self._ui_account(key, encoding, cfg.get("dataSlice")))

    def get_multiple_accounts(self, params: list[Any]) -> Any:
        p.require(params, 1)
        keys = p.list_arg(params, 0, max_len=MAX_MULTIPLE_ACCOUNTS)
        pubkeys = [p.pubkey(k) for k in keys]
        cfg = p.config_arg(params, 1)
        # getMultipleAccounts defaults to base64, unlike getAccountInfo (legacy base58).
        encoding = check_account_encoding(cfg.get("encoding") or "base64")
        slot = p.context_slot(self.chain, cfg)
        return self.context(
            slot, [self._ui_account(k, encoding, cfg.get("dataSlice")) for k in pubkeys]
        )

    def _ui_account(self, key: Any, encoding: str, data_slice: Any) -> Any:
        if data_slice is not None and not isinstance(data_slice, dict):
            raise p.type_error(data_slice, "struct UiDataSliceConfig")
        account = self.chain.get_account(key)
        if account is None:
            return None
        return encode_account(
            key, account, encoding, data_slice, get_account=self.chain.get_account
        )

    def request_airdrop(self, params: list[Any]) -> Any:
        p.require(params, 2)
        key = p.pubkey(params[0])
        lamports = p.u64_arg(params, 1)
        p.context_slot(self.chain, p.config_arg(params, 2))
        outcome = self.chain.airdrop(key, lamports)
        if outcome.record is None or outcome.err is not None:
            raise invalid_params(f"airdrop request failed: {outcome.err}")
        return str(outcome.signature)
