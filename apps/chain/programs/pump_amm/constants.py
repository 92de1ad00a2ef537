"""PumpSwap program ids and well-known accounts (solana-facts.md §5.1)."""

from __future__ import annotations

from solders.pubkey import Pubkey

PUMP_AMM_PROGRAM_ID = Pubkey.from_string("pAMMBay6oceH9fJKBRHGP5D4bD4sWpmSwMn52FMfXEA")
GLOBAL_CONFIG_ADDRESS = Pubkey.from_string("ADyA8hdefvWN2dbGGWFotbzWxrAvLW83WG6QCVXvJKqw")
CANONICAL_POOL_INDEX = 0
