"""PumpSwap program ids and well-known accounts (solana-facts.md §5.1)."""

from __future__ import annotations

from solders.pubkey import Pubkey

from ..ids import PUMP_AMM_PROGRAM_ID  # noqa: F401  (re-exported)

GLOBAL_CONFIG_ADDRESS = Pubkey.from_string("ADyA8hdefvWN2dbGGWFotbzWxrAvLW83WG6QCVXvJKqw")
CANONICAL_POOL_INDEX = 0
