"""A real SMTP server on loopback, and a client that speaks the login API.

Email goes through Django's SMTP backend to aiosmtpd; codes are read from the
delivered message, as a user would read them.
"""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient, Client

from apps.ingestion.models import ApiToken, LoginCode
from tests.servers import free_port

CODE_RE = re.compile(r"\b(\d{6})\b")


class Inbox:
    """aiosmtpd handler that keeps every delivered message."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in m["To"]]

    def code_for(self, address: str) -> str:
        """The code in the newest message to address."""
        body = self.to(address)[-1].get_body(preferencelist=("plain",)).get_content()
        return CODE_RE.search(body).group(1)


@pytest.fixture
def smtp_inbox(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    yield inbox
    controller.stop()


class AuthApi:
    """The login API as a user drives it: request, read the mail, verify, call."""

    def __init__(self, client: Client, inbox: Inbox) -> None:
        self.client = client
        self.inbox = inbox
        self.responses = []  # every response, to check that no secret leaks

    def _keep(self, response):
        self.responses.append(response)
        return response

    def request_code(self, email: str, **extra):
        return self._keep(
            self.client.post(
                "/api/auth/otp/request", {"email": email}, content_type="application/json", **extra
            )
        )

    def verify(self, email: str, code: str, **extra):
        return self._keep(
            self.client.post(
                "/api/auth/otp/verify",
                {"email": email, "code": code},
                content_type="application/json",
                **extra,
            )
        )

    def login(self, email: str) -> dict:
        """Request, read the code from the mail, verify; the verify answer."""
        assert self.request_code(email).status_code == 202
        response = self.verify(email, self.inbox.code_for(email))
        assert response.status_code == 200, response.content
        return response.json()

    def call(self, method: str, path: str, token: str | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self._keep(getattr(self.client, method)(path, headers=headers))

    def secrets_at_rest(self) -> list[str]:
        """Every code hash and token hash in the database."""
        return [
            *LoginCode.objects.values_list("code_hash", flat=True),
            *ApiToken.objects.values_list("key_hash", flat=True),
        ]


@pytest.fixture
def auth_api(smtp_inbox) -> AuthApi:
    return AuthApi(Client(), smtp_inbox)


@pytest.fixture
async def async_client():
    yield AsyncClient()
    # The async ORM ran on asgiref's shared sync thread; with CONN_MAX_AGE its
    # connection outlives the request and would block the test database's teardown.
    await sync_to_async(connections.close_all)()


def wrong_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def assert_error(response, *, status: int, code: str, field: str | None = None) -> dict:
    """The one error format: {"error": {"code", "message", "field"?}}."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert error.get("field") == field
    return error
