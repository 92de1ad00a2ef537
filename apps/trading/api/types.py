"""Input types shared by the trading API's views.

Bad input is refused at the edge, as a 422 naming the field, before any RPC call:
`PubkeyStr` for a Solana address, `StrictQuery` for a query string that may only hold
the parameters its schema declares.
"""

from __future__ import annotations

from typing import Annotated, Any

from ninja.errors import ValidationError
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo, model_validator
from solders.pubkey import Pubkey

BASE58_ALPHABET = frozenset("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")


def check_pubkey(value: str) -> str:
    """`value` if it is base58 of exactly 32 bytes; ValueError saying what is wrong otherwise."""
    # 32 bytes take 32 (leading zero bytes) to 44 base58 characters.
    if not 32 <= len(value) <= 44:
        raise ValueError(f"a pubkey is base58 of 32 bytes (32 to 44 characters), not {len(value)}")
    bad = next((c for c in value if c not in BASE58_ALPHABET), None)
    if bad is not None:
        raise ValueError(f"{bad!r} is not a base58 character")
    try:
        Pubkey.from_string(value)
    except ValueError:
        raise ValueError("a pubkey is base58 of exactly 32 bytes") from None
    return value


PubkeyStr = Annotated[str, AfterValidator(check_pubkey)]


class StrictQuery(BaseModel):
    """A query-string schema that refuses parameters it does not declare.

    Ninja hands a query schema only the keys it declares, so `extra="forbid"` alone
    never fires; the request (in the validation context) tells which keys were sent.
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_parameters(cls, data: Any, info: ValidationInfo) -> Any:
        request = (info.context or {}).get("request")
        if request is not None:
            known = {field.alias or name for name, field in cls.model_fields.items()}
            unknown = [key for key in request.GET if key not in known]
            if unknown:
                # Raised as Ninja's error (not pydantic's) so the field is the bare name.
                raise ValidationError(
                    [
                        {
                            "type": "extra_forbidden",
                            "loc": ("query", key),
                            "msg": f"unknown query parameter (allowed: {', '.join(sorted(known))})",
                        }
                        for key in unknown
                    ]
                )
        return data
