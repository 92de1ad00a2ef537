"""Bearer-token auth for private endpoints (tokens from email OTP login)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer


class ApiTokenAuth(HttpBearer):
    async def authenticate(self, request: HttpRequest, token: str):
        from apps.ingestion.services.api_tokens import api_token_user

        user = await api_token_user(raw_token=token)
        if user is not None:
            request.user = user
        return user


api_token_auth = ApiTokenAuth()
