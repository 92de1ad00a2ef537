"""Bearer-token auth for private endpoints (tokens from email OTP login)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer


class ApiTokenAuth(HttpBearer):
    """Sets request.user and request.auth_token (the ApiToken row) for the view."""

    async def authenticate(self, request: HttpRequest, token: str):
        from apps.ingestion.services.api_tokens import api_token_authenticate

        api_token = await api_token_authenticate(raw_token=token)
        if api_token is None:
            return None
        request.user = api_token.user
        request.auth_token = api_token
        return api_token.user


api_token_auth = ApiTokenAuth()
