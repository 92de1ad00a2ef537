"""pump.fun bonding-curve program (6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P).

Importing the package registers every typed view with the IDL codec, so decoding through any
module yields the dataclasses.
"""

from . import accounts, curve, events, instructions, pdas  # noqa: F401  (registers types)
from .constants import PUMP_PROGRAM_ID
from .program import PUMP, PUMP_FEES

__all__ = ["PUMP", "PUMP_FEES", "PUMP_PROGRAM_ID"]
