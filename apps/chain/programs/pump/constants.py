"""pump.fun bonding-curve program ids, well-known accounts and documented Global values.

Sources: pump-fun/pump-public-docs (README, FEE_RECIPIENTS.md) as summarised in
shared/reference/solana-facts.md §5. Live values belong to the on-chain `Global` account; the
numbers here are the documented snapshot, used for fresh curves and progress.
"""

from __future__ import annotations

from solders.pubkey import Pubkey

from ..ids import (  # noqa: F401  (re-exported: the program ids pump code refers to)
    MAYHEM_PROGRAM_ID,
    PUMP_AMM_PROGRAM_ID,
    PUMP_FEES_PROGRAM_ID,
    PUMP_PROGRAM_ID,
)

GLOBAL_ADDRESS = Pubkey.from_string("4wTV1YmiEkRvAtNtsSGPtUrqRYQMe5SKy2uB4Jjaxnjf")
LEGACY_WITHDRAW_AUTHORITY = Pubkey.from_string("39azUYFWPz3VHgKCf3VChUwbpURdCHRxjWVowf5jUJjg")

TOKEN_DECIMALS = 6
LAMPORTS_PER_SOL = 1_000_000_000
INITIAL_VIRTUAL_TOKEN_RESERVES = 1_073_000_000_000_000
INITIAL_VIRTUAL_SOL_RESERVES = 30_000_000_000
INITIAL_REAL_TOKEN_RESERVES = 793_100_000_000_000
TOKEN_TOTAL_SUPPLY = 1_000_000_000_000_000
FEE_BASIS_POINTS = 100
POOL_MIGRATION_FEE = 15_000_001

# Pick one at random per trade (spreads write locks). Mayhem-mode coins use the reserved list.
FEE_RECIPIENTS = tuple(
    Pubkey.from_string(s)
    for s in (
        "62qc2CNXwrYqQScmEdiZFFAnJR262PxWEuNQtxfafNgV",
        "7VtfL8fvgNfhz17qKRMjzQEXgbdpnHHHQRh54R9jP2RJ",
        "7hTckgnGnLQR6sdH7YkqFTAA7VwTfYFaZ6EhEsU3saCX",
        "9rPYyANsfQZw3DnDmKE3YCQF5E8oD89UXoHn9JFEhJUz",
        "AVmoTthdrX6tKt4nDjco2D775W2YK3sDhxPcMmzUAmTY",
        "CebN5WGQ4jvEPvsVU4EoHEpgzq1VV7AbicfhtW4xC9iM",
        "FWsW1xNtWscwNmKv6wVsU1iTzRN6wmmk3MjxRP5tT7hz",
        "G5UZAVbAf46s7cKWoyKu8kYTip9DGTpbLZ2qa9Aq69dP",
    )
)
BUYBACK_FEE_RECIPIENTS = tuple(
    Pubkey.from_string(s)
    for s in (
        "5YxQFdt3Tr9zJLvkFccqXVUwhdTWJQc1fFg2YPbxvxeD",
        "9M4giFFMxmFGXtc3feFzRai56WbBqehoSeRE5GK7gf7",
        "GXPFM2caqTtQYC2cJ5yJRi9VDkpsYZXzYdwYpGnLmtDL",
        "3BpXnfJaUTiwXnJNe7Ej1rcbzqTTQUvLShZaWazebsVR",
        "5cjcW9wExnJJiqgLjq7DEG75Pm6JBgE1hNv4B2vHXUW6",
        "EHAAiTxcdDwQ3U4bU6YcMsQGaekdzLS3B5SmYo46kJtL",
        "5eHhjP8JaYkz83CWwvGU2uMUXefd3AazWGx4gpcuEEYD",
        "A7hAgCzFw14fejgCp387JUJRMNyz4j89JKnhtKU8piqW",
    )
)
