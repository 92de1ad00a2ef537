"""A real Solana chain on one machine: LiteSVM behind a validator's JSON-RPC.

    from apps.chain.localnet import start_localnet_in_thread

    with start_localnet_in_thread(slot_ms=0) as net:   # free port, manual clock
        sig = net.chain.airdrop(pubkey, 10**9).signature
        net.chain.advance_slot()
        ...  # talk to net.rpc_url with any Solana client

No Django import here: the localnet runs standalone (`python -m apps.chain.localnet`).
"""

from .chain import COMMITMENTS, Chain, ExecutionOutcome, SimulationOutcome
from .records import SlotRecord, TxRecord
from .rpc import JsonRpcApp
from .server import LocalnetHandle, LocalnetServer, serve, start_localnet_in_thread

__all__ = [
    "COMMITMENTS",
    "Chain",
    "ExecutionOutcome",
    "JsonRpcApp",
    "LocalnetHandle",
    "LocalnetServer",
    "SimulationOutcome",
    "SlotRecord",
    "TxRecord",
    "serve",
    "start_localnet_in_thread",
]
