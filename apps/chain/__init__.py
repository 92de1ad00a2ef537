"""Solana access shared by every app: RPC, program decoders, signing, the localnet."""
