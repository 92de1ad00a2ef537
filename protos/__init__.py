"""Yellowstone Geyser protos; `ensure_stubs()` (re)generates protos/generated/ when stale."""


def ensure_stubs() -> None:
    from .build import ensure_stubs as _ensure  # lazy: `python -m protos.build` stays clean

    _ensure()
