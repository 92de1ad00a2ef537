"""On-chain program formats: one place for pump.fun (bonding curve) and PumpSwap (AMM) bytes.

- `anchor`: IDL-driven Borsh/Anchor codec (accounts, events, instructions, PDAs).
- `spl`: token program ids and associated token addresses.
- `fees`: the Pump Fees program's fee config and market-cap fee tiers (shared by both programs).
- `pump`: bonding-curve accounts, events, instruction builders, PDAs and curve math.
- `pump_amm`: PumpSwap pool accounts, events, instruction builders, PDAs and quotes.

The IDLs are vendored under each package's `idl/` directory; they are the source of truth.
"""

from .anchor import (
    AnchorProgram,
    DecodeError,
    EncodeError,
    IdlError,
    MissingAccountError,
    OtherEvent,
)

__all__ = [
    "AnchorProgram",
    "DecodeError",
    "EncodeError",
    "IdlError",
    "MissingAccountError",
    "OtherEvent",
]
