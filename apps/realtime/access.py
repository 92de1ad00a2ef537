"""Who may stream which topics: shared by the WebSocket consumer and the SSE view.

Public topics (Pulse, tokens, migrations, fees) are open to anyone. `orders:<user id>`
carries one user's orders: it needs a bearer token (from email OTP login) whose user is
that user. A wrong, revoked or missing token and someone else's user id are refused alike,
so a client cannot probe which user ids exist.
"""

from __future__ import annotations

from collections.abc import Iterable

from apps.realtime.bus import is_private_topic, validate_topic

# Topics one connection may follow at once: a front end needs a handful (Pulse columns, the
# tokens on screen, its orders); the bound keeps one client from costing everyone else.
MAX_TOPICS_PER_CONNECTION = 64


class TopicForbidden(Exception):
    """A private topic asked for without the token of its user."""

    def __init__(self, topic: str):
        super().__init__(f"topic {topic!r} is private: it needs the bearer token of its user")
        self.topic = topic


def parse_topics(topics: object) -> list[str]:
    """A list of valid topic names, deduplicated in order; ValueError naming the bad one.

    Accepts a list of strings (WebSocket) or one comma-separated string (SSE query)."""
    if isinstance(topics, str):
        topics = [t.strip() for t in topics.split(",") if t.strip()]
    if not isinstance(topics, list) or not topics:
        raise ValueError("topics must be a non-empty list of topic names")
    if len(topics) > MAX_TOPICS_PER_CONNECTION:
        raise ValueError(f"at most {MAX_TOPICS_PER_CONNECTION} topics per connection")
    return list(dict.fromkeys(validate_topic(t) for t in topics))


async def user_id_for_token(raw_token: str | None) -> int | None:
    """The id of the active user holding raw_token, or None (missing, wrong or revoked)."""
    if not raw_token:
        return None
    from apps.ingestion.services.api_tokens import api_token_authenticate

    token = await api_token_authenticate(raw_token=raw_token)
    return token.user_id if token is not None else None


def check_topic_access(topics: Iterable[str], user_id: int | None) -> None:
    """TopicForbidden for the first private topic that is not user_id's own."""
    for topic in topics:
        if is_private_topic(topic) and (user_id is None or topic != f"orders:{user_id}"):
            raise TopicForbidden(topic)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
