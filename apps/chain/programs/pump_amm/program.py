"""The PumpSwap (pump_amm) program codec, compiled once from the vendored IDL."""

from __future__ import annotations

from pathlib import Path

from ..anchor import AnchorProgram
from ..fees import register_fee_types

PUMP_AMM = AnchorProgram.from_file(Path(__file__).parent / "idl" / "pump_amm.json")
register_fee_types(PUMP_AMM)
