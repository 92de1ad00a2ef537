"""PumpSwap AMM program (pAMMBay6oceH9fJKBRHGP5D4bD4sWpmSwMn52FMfXEA).

Importing the package registers every typed view with the IDL codec.
"""

from . import accounts, events, instructions, pdas, quotes  # noqa: F401  (registers types)
from .constants import PUMP_AMM_PROGRAM_ID
from .program import PUMP_AMM

__all__ = ["PUMP_AMM", "PUMP_AMM_PROGRAM_ID"]
