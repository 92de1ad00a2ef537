"""Email one-time-password login: mail a 6-digit code, trade it for an API token.

A code is stored only as an HMAC-SHA256 keyed from SECRET_KEY and bound to the
email, so a database reader can neither read a code nor replay one for another
address. A request answers the same whether or not an account exists: it never
looks at the user table; the account is made on the first successful verify.
"""

from __future__ import annotations

import logging
import re
import secrets
import smtplib
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from apps.ingestion.exceptions import (
    AccountDisabled,
    CodeExpired,
    EmailUnavailable,
    InvalidCode,
    TooManyAttempts,
)
from apps.ingestion.models import LoginCode
from apps.ingestion.services.api_tokens import IssuedToken, api_token_issue
from apps.ingestion.services.rate_limit import rate_limit_enforce
from config.api_errors import ApiError

logger = logging.getLogger(__name__)

CODE_DIGITS = 6
# RFC 5321 allows 254; the account's username is the email, and the stock User's
# username column holds 150, so that is the longest email that can log in.
EMAIL_MAX_LENGTH = 150
_LOCAL_MAX_LENGTH = 64
_EMAIL_RE = re.compile(
    r"(?P<local>[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]"
)
_HMAC_SALT = "apps.ingestion.otp_login.code"
_TOKEN_NAME = "email login"


@dataclass(frozen=True)
class OtpLogin:
    user: AbstractBaseUser
    issued: IssuedToken
    created: bool  # the account was made by this login


def email_normalize(*, email: str) -> str:
    return email.strip().lower()


def email_problem(*, email: str) -> str | None:
    """Why a normalized email is refused, or None when it is acceptable."""
    if len(email) > EMAIL_MAX_LENGTH:
        return f"must be at most {EMAIL_MAX_LENGTH} characters"
    match = _EMAIL_RE.fullmatch(email)
    if match is None or len(match["local"]) > _LOCAL_MAX_LENGTH:
        return "is not a valid email address"
    return None


async def otp_request(*, email: str, client_ip: str) -> int:
    """Mail a fresh code to email (superseding any pending one); returns its lifetime."""
    code = await sync_to_async(_login_code_issue)(email=email, client_ip=client_ip)
    # SMTP is slow I/O: off the thread that holds the database connection.
    await sync_to_async(_login_code_mail, thread_sensitive=False)(email=email, code=code)
    return settings.OTP_TTL_SECONDS


def otp_verify(*, email: str, code: str, client_ip: str) -> OtpLogin:
    """Trade the pending code for an API token, making the account on first login.

    A wrong code counts one attempt; the attempt that reaches OTP_MAX_ATTEMPTS kills
    the code (too_many_attempts), and from then on even the right code is refused.
    The row is locked while it is checked, so concurrent guesses all count.
    """
    rate_limit_enforce(
        scope="otp-verify-ip",
        key=client_ip,
        rate=settings.OTP_RATE_PER_IP,
        message="too many login attempts from this address",
    )
    error: ApiError | None = None
    with transaction.atomic():
        login_code = (
            LoginCode.objects.select_for_update()
            .filter(email=email, consumed_at__isnull=True, superseded_at__isnull=True)
            .first()
        )
        error = _login_code_check(login_code=login_code, email=email, code=code)
        if error is None:
            login_code.consumed_at = timezone.now()
            login_code.save(update_fields=["consumed_at"])
            user, created = _user_for_email(email=email)
            if user.is_active:
                issued = api_token_issue(user=user, name=_TOKEN_NAME)
            else:
                error = AccountDisabled("this account is disabled", field="email")
    # Raised after the block, so a wrong try's attempt count is committed.
    if error is not None:
        raise error
    return OtpLogin(user=user, issued=issued, created=created)


def _login_code_issue(*, email: str, client_ip: str) -> str:
    rate_limit_enforce(
        scope="otp-request-ip",
        key=client_ip,
        rate=settings.OTP_RATE_PER_IP,
        message="too many login code requests from this address",
    )
    rate_limit_enforce(
        scope="otp-request-email",
        key=email,
        rate=settings.OTP_RATE_PER_EMAIL,
        message="too many login codes requested for this email",
        field="email",
    )
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    for attempt in range(2):
        now = timezone.now()
        try:
            with transaction.atomic():
                LoginCode.objects.filter(
                    email=email, consumed_at__isnull=True, superseded_at__isnull=True
                ).update(superseded_at=now)
                LoginCode.objects.create(
                    email=email,
                    code_hash=_code_hash(email=email, code=code),
                    created_at=now,
                    expires_at=now + timedelta(seconds=settings.OTP_TTL_SECONDS),
                )
            return code
        except IntegrityError:
            # A concurrent request for this email inserted first; supersede it instead.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _login_code_mail(*, email: str, code: str) -> None:
    lifetime = _lifetime_text(seconds=settings.OTP_TTL_SECONDS)
    try:
        send_mail(
            subject="Your login code",
            message=(
                f"Your login code is {code}\n\n"
                f"It expires in {lifetime}. If you did not ask for it, ignore this email."
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[email],
        )
    except (smtplib.SMTPException, OSError) as exc:
        # The exception class only: the message text could echo the mail.
        logger.warning("login code email not sent: %s", type(exc).__name__)
        raise EmailUnavailable("the login code could not be sent; try again later") from None


def _login_code_check(*, login_code: LoginCode | None, email: str, code: str) -> ApiError | None:
    """None when code opens login_code; else the error, counting a wrong try."""
    if login_code is None:
        return InvalidCode("the code is not valid; request a new one", field="code")
    max_attempts = settings.OTP_MAX_ATTEMPTS
    if login_code.attempts >= max_attempts:
        return TooManyAttempts("too many wrong codes; request a new one", field="code")
    if login_code.expires_at <= timezone.now():
        return CodeExpired("the code has expired; request a new one", field="code")
    if constant_time_compare(login_code.code_hash, _code_hash(email=email, code=code)):
        return None
    LoginCode.objects.filter(pk=login_code.pk).update(attempts=F("attempts") + 1)
    if login_code.attempts + 1 >= max_attempts:
        return TooManyAttempts("too many wrong codes; request a new one", field="code")
    return InvalidCode("the code is not valid", field="code")


def _user_for_email(*, email: str) -> tuple[AbstractBaseUser, bool]:
    User = get_user_model()
    try:
        return User.objects.get(username=email), False
    except User.DoesNotExist:
        # create_user with no password sets an unusable one: OTP is the only way in.
        return User.objects.create_user(username=email, email=email), True


def _code_hash(*, email: str, code: str) -> str:
    return salted_hmac(_HMAC_SALT, f"{email}\n{code}", algorithm="sha256").hexdigest()


def _lifetime_text(*, seconds: int) -> str:
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} seconds"
