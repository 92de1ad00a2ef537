"""Flags, phases, endpoint routes between backends, rollout and audit."""
