"""The pump.fun program codec, compiled once from the vendored IDL."""

from __future__ import annotations

from pathlib import Path

from ..anchor import AnchorProgram
from ..fees import register_fee_types

IDL_DIR = Path(__file__).parent / "idl"

PUMP = AnchorProgram.from_file(IDL_DIR / "pump.json")
PUMP_FEES = AnchorProgram.from_file(IDL_DIR / "pump_fees.json")
register_fee_types(PUMP)
register_fee_types(PUMP_FEES)
