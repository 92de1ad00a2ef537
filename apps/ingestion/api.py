"""Email OTP login and API-token management, mounted at /api/auth.

Status codes: 202 code mailed (the same answer for every well-formed email);
200 login; 204 revoked; 400 invalid_code / code_expired / too_many_attempts
(a code that cannot log in: request a new one) and malformed_json; 401 missing or
dead token; 403 account_disabled; 404 someone else's token; 422 bad field
(the field named); 429 rate_limited with Retry-After; 503 email_unavailable.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema, Status
from pydantic import field_validator
from pydantic_core import PydanticCustomError

from apps.ingestion.auth import api_token_auth
from apps.ingestion.models import ApiToken
from apps.ingestion.services.api_tokens import api_token_list, api_token_revoke
from apps.ingestion.services.otp_login import (
    CODE_DIGITS,
    email_normalize,
    email_problem,
    otp_request,
    otp_verify,
)
from config.api_errors import ErrorOut

router = Router(tags=["auth"])


# --- schemas ----------------------------------------------------------------------
class OtpRequestIn(Schema):
    email: str

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        email = email_normalize(email=value)
        problem = email_problem(email=email)
        if problem is not None:
            raise PydanticCustomError("email", problem)
        return email


class OtpVerifyIn(OtpRequestIn):
    code: str

    @field_validator("code")
    @classmethod
    def _six_digits(cls, value: str) -> str:
        # isdigit() would accept other scripts' digits; the mailed code is ASCII.
        if len(value) != CODE_DIGITS or not all("0" <= ch <= "9" for ch in value):
            raise PydanticCustomError("code", "must be {digits} digits", {"digits": CODE_DIGITS})
        return value


class OtpRequestOut(Schema):
    sent: bool
    expires_in: int


class UserOut(Schema):
    id: int
    email: str


class LoginOut(Schema):
    token: str
    token_id: int
    user: UserOut
    created: bool


class MeOut(Schema):
    id: int
    email: str
    token_id: int


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool

    @staticmethod
    def resolve_revoked(obj: ApiToken) -> bool:
        return obj.is_revoked


# --- public: login ------------------------------------------------------------------
@router.post(
    "/otp/request",
    auth=None,
    response={202: OtpRequestOut, 400: ErrorOut, 422: ErrorOut, 429: ErrorOut, 503: ErrorOut},
)
async def request_code(request: HttpRequest, payload: OtpRequestIn):
    """Mail a 6-digit login code; the answer does not tell whether the account exists."""
    expires_in = await otp_request(email=payload.email, client_ip=client_ip(request))
    return Status(202, {"sent": True, "expires_in": expires_in})


@router.post(
    "/otp/verify",
    auth=None,
    response={200: LoginOut, 400: ErrorOut, 403: ErrorOut, 422: ErrorOut, 429: ErrorOut},
)
async def verify_code(request: HttpRequest, payload: OtpVerifyIn, response: HttpResponse):
    """Trade the mailed code for an API token, shown here once."""
    login = await sync_to_async(otp_verify)(
        email=payload.email, code=payload.code, client_ip=client_ip(request)
    )
    response["Cache-Control"] = "no-store"
    return {
        "token": login.issued.raw,
        "token_id": login.issued.token.pk,
        "user": {"id": login.user.pk, "email": login.user.email},
        "created": login.created,
    }


# --- private: the caller and their tokens ---------------------------------------------
@router.get("/me", auth=api_token_auth, response={200: MeOut, 401: ErrorOut})
async def me(request: HttpRequest):
    return {"id": request.user.pk, "email": request.user.email, "token_id": request.auth_token.pk}


@router.get("/tokens", auth=api_token_auth, response={200: list[TokenOut], 401: ErrorOut})
async def tokens_list(request: HttpRequest):
    """The caller's tokens, revoked ones included; never their secret values."""
    return await api_token_list(user_id=request.user.pk)


@router.delete(
    "/tokens/{token_id}", auth=api_token_auth, response={204: None, 401: ErrorOut, 404: ErrorOut}
)
async def token_revoke(request: HttpRequest, token_id: int):
    await api_token_revoke(user_id=request.user.pk, token_id=token_id)
    return Status(204, None)


@router.post("/logout", auth=api_token_auth, response={204: None, 401: ErrorOut})
async def logout(request: HttpRequest):
    """Revoke the token this request was made with."""
    await api_token_revoke(user_id=request.user.pk, token_id=request.auth_token.pk)
    return Status(204, None)


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or X-Forwarded-For's first hop when a trusted proxy sets it."""
    if settings.TRUST_X_FORWARDED_FOR:
        first_hop = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
        try:
            return str(ipaddress.ip_address(first_hop))
        except ValueError:
            pass
    return request.META.get("REMOTE_ADDR") or "unknown"
