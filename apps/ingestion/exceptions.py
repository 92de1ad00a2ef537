"""Errors of the login and API-token domain, mapped to the one API error format.

The status codes are part of the contract (see apps/ingestion/api.py):
400 for a code that does not log in (wrong, expired, worn out: the client asks for a
new one), 404 for a token the caller does not own, 429 for rate limits, 503 when the
mail relay refuses the message.
"""

from __future__ import annotations

from config.api_errors import ApiError


class InvalidCode(ApiError):
    """Wrong code, or no code pending for the email: the two are not told apart."""

    status = 400
    code = "invalid_code"


class CodeExpired(ApiError):
    status = 400
    code = "code_expired"


class TooManyAttempts(ApiError):
    """The pending code is dead after OTP_MAX_ATTEMPTS wrong tries; request a new one."""

    status = 400
    code = "too_many_attempts"


class AccountDisabled(ApiError):
    status = 403
    code = "account_disabled"


class TokenNotFound(ApiError):
    status = 404
    code = "not_found"


class EmailUnavailable(ApiError):
    status = 503
    code = "email_unavailable"
