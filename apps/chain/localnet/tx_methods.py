"""Transaction methods: send, simulate, statuses, history, in the validator's shapes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import params as p
from .chain import STATUS_CACHE_SLOTS, SimulationOutcome
from .encoding import (
    encode_account,
    encode_transaction,
    inner_instructions_json,
    return_data_json,
    transaction_status_meta,
    transaction_version,
)
from .errors import (
    UNSUPPORTED_TRANSACTION_VERSION,
    RpcError,
    invalid_params,
    preflight_failure,
    signature_verification_failure,
)
from .records import TxRecord

if TYPE_CHECKING:
    from solders.transaction import VersionedTransaction

    from .chain import Chain

MAX_SIGNATURE_STATUSES = 256
MAX_SIGNATURES_FOR_ADDRESS = 1000
ACCOUNT_DATA_BASE_SIZE = 64  # Agave's per-account overhead in loadedAccountsDataSize
_TX_ENCODINGS = ("json", "jsonParsed", "base58", "base64", "binary")


class TransactionMethods:
    chain: Chain

    def context(self, slot: int, value: Any) -> dict[str, Any]:  # provided by RpcMethods
        raise NotImplementedError

    # ---- submit ------------------------------------------------------------------

    def send_transaction(self, params: list[Any]) -> Any:
        p.require(params, 1)
        cfg = p.config_arg(params, 1)
        tx = p.transaction(params[0], cfg.get("encoding"))
        p.context_slot(self.chain, {**cfg, "commitment": cfg.get("preflightCommitment")})
        if not cfg.get("skipPreflight"):
            if not all(tx.verify_with_results()):
                raise signature_verification_failure()
            sim = self.chain.simulate(tx, sig_verify=True)
            if sim.err is not None:
                raise preflight_failure(sim.err, self._simulation_value(sim, None, False))
        # Without preflight a transaction the runtime rejects (bad signature, expired
        # blockhash, no funds) is dropped silently, as a leader would; it never lands.
        self.chain.execute(tx)
        return str(tx.signatures[0])

    def simulate_transaction(self, params: list[Any]) -> Any:
        p.require(params, 1)
        cfg = p.config_arg(params, 1)
        tx = p.transaction(params[0], cfg.get("encoding"))
        sig_verify = bool(cfg.get("sigVerify"))
        replace = bool(cfg.get("replaceRecentBlockhash"))
        if sig_verify and replace:
            raise invalid_params("sigVerify may not be used with replaceRecentBlockhash")
        slot = p.context_slot(self.chain, cfg)
        if sig_verify and not all(tx.verify_with_results()):
            raise signature_verification_failure()
        accounts_cfg = cfg.get("accounts")
        addresses: list[Any] = []
        account_encoding = "base64"
        if accounts_cfg is not None:
            if not isinstance(accounts_cfg, dict):
                raise p.type_error(accounts_cfg, "struct RpcSimulateTransactionAccountsConfig")
            account_encoding = accounts_cfg.get("encoding") or "base64"
            if account_encoding in ("base58", "binary"):
                raise invalid_params("base58 encoding not supported")
            if account_encoding not in ("base64", "base64+zstd", "jsonParsed"):
                raise p.type_error(account_encoding, "a valid account encoding")
            raw_addresses = accounts_cfg.get("addresses") or []
            if not isinstance(raw_addresses, list):
                raise p.type_error(raw_addresses, "a sequence")
            if len(raw_addresses) > len(tx.message.account_keys):
                raise invalid_params(
                    f"Too many accounts provided; max {len(tx.message.account_keys)}"
                )
            addresses = [p.pubkey(a) for a in raw_addresses]
        sim = self.chain.simulate(
            tx, sig_verify=sig_verify, replace_recent_blockhash=replace, addresses=addresses
        )
        accounts = None
        if accounts_cfg is not None:
            # A token account's decimals come from its mint: the simulated mint when the
            # transaction touched it, else the chain's.
            simulated = {k: a for k, a in zip(addresses, sim.accounts, strict=True) if a}

            def lookup(key: Any) -> Any:
                return simulated.get(key) or self.chain.get_account(key)

            accounts = [
                None
                if acc is None
                else encode_account(key, acc, account_encoding, get_account=lookup)
                for key, acc in zip(addresses, sim.accounts, strict=True)
            ]
        inner = bool(cfg.get("innerInstructions"))
        return self.context(slot, self._simulation_value(sim, accounts, inner, tx))

    def _simulation_value(
        self,
        sim: SimulationOutcome,
        accounts: list[Any] | None,
        inner: bool,
        tx: VersionedTransaction | None = None,
    ) -> dict[str, Any]:
        replacement = None
        if sim.replacement_blockhash is not None:
            blockhash, last_valid = sim.replacement_blockhash
            replacement = {"blockhash": str(blockhash), "lastValidBlockHeight": last_valid}
        loaded_size = 0
        if tx is not None:
            for key in tx.message.account_keys:
                account = self.chain.get_account(key)
                loaded_size += ACCOUNT_DATA_BASE_SIZE + (len(account.data) if account else 0)
        return {
            "accounts": accounts,
            "err": sim.err,
            "innerInstructions": inner_instructions_json(sim.inner_instructions) if inner else None,
            "loadedAccountsDataSize": loaded_size,
            "logs": sim.logs,
            "replacementBlockhash": replacement,
            "returnData": return_data_json(sim.return_data),
            "unitsConsumed": sim.units_consumed,
        }

    # ---- status and history ------------------------------------------------------

    def get_signature_statuses(self, params: list[Any]) -> Any:
        p.require(params, 1)
        raw = p.list_arg(params, 0, max_len=MAX_SIGNATURE_STATUSES)
        signatures = [p.signature(s) for s in raw]
        cfg = p.config_arg(params, 1)
        search_history = bool(cfg.get("searchTransactionHistory"))
        slot = self.chain.slot
        statuses = []
        for sig in signatures:
            record = self.chain.transaction(sig)
            # Without searchTransactionHistory a validator answers from its status
            # cache only, which covers roughly the last 300 slots.
            if record is None or (not search_history and record.slot < slot - STATUS_CACHE_SLOTS):
                statuses.append(None)
                continue
            status, confirmations = self.chain.confirmation_status(record.slot)
            statuses.append(
                {
                    "confirmationStatus": status,
                    "confirmations": confirmations,
                    "err": record.err,
                    "slot": record.slot,
                    "status": {"Ok": None} if record.err is None else {"Err": record.err},
                }
            )
        return self.context(slot, statuses)

    def get_transaction(self, params: list[Any]) -> Any:
        p.require(params, 1)
        sig = p.signature(params[0])
        # The second param may be a bare encoding string (the deprecated form).
        cfg = (
            {"encoding": params[1]}
            if len(params) > 1 and isinstance(params[1], str)
            else p.config_arg(params, 1)
        )
        level = p.at_least_confirmed(cfg)
        encoding = cfg.get("encoding") or "json"
        if encoding not in _TX_ENCODINGS:
            raise p.type_error(encoding, "a valid transaction encoding")
        max_version = cfg.get("maxSupportedTransactionVersion")
        record = self.chain.transaction(sig)
        if record is None or not self.chain.meets_commitment(record.slot, level):
            return None
        version = transaction_version(record.transaction)
        if version != "legacy" and (max_version is None or max_version < version):
            raise RpcError(
                UNSUPPORTED_TRANSACTION_VERSION,
                f"Transaction version ({version}) is not supported by the requesting client. "
                "Please try the request again with the following configuration parameter: "
                '"maxSupportedTransactionVersion": 0',
            )
        # jsonParsed is answered as json for now (no instruction parsers yet).
        tx_encoding = "json" if encoding == "jsonParsed" else encoding
        meta = transaction_status_meta(record)
        result: dict[str, Any] = {
            "blockTime": record.block_time,
            "meta": meta,
            "slot": record.slot,
            "transaction": encode_transaction(record.transaction, tx_encoding),
        }
        if max_version is None:
            meta.pop("loadedAddresses", None)
        else:
            result["version"] = version
        return result

    def get_signatures_for_address(self, params: list[Any]) -> Any:
        p.require(params, 1)
        address = p.pubkey(params[0])
        cfg = p.config_arg(params, 1)
        level = p.at_least_confirmed(cfg)
        p.context_slot(self.chain, cfg)
        limit = cfg.get("limit") or MAX_SIGNATURES_FOR_ADDRESS
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise p.type_error(limit, "usize")
        if limit > MAX_SIGNATURES_FOR_ADDRESS:
            raise invalid_params(f"Invalid limit; max {MAX_SIGNATURES_FOR_ADDRESS}")
        before = p.signature(cfg["before"]) if cfg.get("before") else None
        until = p.signature(cfg["until"]) if cfg.get("until") else None
        out: list[dict[str, Any]] = []
        started = before is None
        for record in self.chain.transactions_for_address(address):
            if not self.chain.meets_commitment(record.slot, level):
                continue
            if not started:
                started = record.signature == before
                continue
            if record.signature == until or len(out) >= limit:
                break
            out.append(self._signature_info(record))
        return out

    def _signature_info(self, record: TxRecord) -> dict[str, Any]:
        status, _ = self.chain.confirmation_status(record.slot)
        return {
            "blockTime": record.block_time,
            "confirmationStatus": status,
            "err": record.err,
            "memo": None,
            "signature": str(record.signature),
            "slot": record.slot,
        }
