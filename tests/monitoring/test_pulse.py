"""GET /api/pulse over a real socket, on the tokens the real market produced: columns by the
staff's rules, sorted, filtered, and bad filters refused with a 422 naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from apps.monitoring.models import PulseRules, Token
from apps.monitoring.services.pulse import Column, column_of
from apps.monitoring.services.token_processor import TokenStateProcessor
from config.asgi import application
from tests.servers import serve_asgi

from .market_stream import RecordingPublisher, feed, market_recording
from .test_token_state import clean_hot_store  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def base_url(transactional_db) -> Iterator[str]:
    with serve_asgi(application) as url:
        yield url


@pytest.fixture
async def market_tokens() -> dict[str, Token]:
    recording = await market_recording()
    await feed(TokenStateProcessor(publish=RecordingPublisher()), recording.updates)
    return {t.mint: t async for t in Token.objects.all()}


async def get(base_url: str, query: str = "") -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        return await client.get("/api/pulse" + (f"?{query}" if query else ""))


def mints(body: dict, column: str) -> list[str]:
    return [t["mint"] for t in body["columns"][column]]


async def test_board__three_columns_by_the_default_rules_each_sorted(
    base_url, market_tokens
) -> None:
    recording = await market_recording()
    response = await get(base_url)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body["columns"]) == {"new", "final", "migrated"}

    rules = PulseRules()
    expected = {c.value: set() for c in Column}
    for mint, token in market_tokens.items():
        expected[column_of(token.progress_pct, token.pool is not None, rules).value].add(mint)
    assert {c: set(mints(body, c)) for c in expected} == expected
    assert set(mints(body, "migrated")) == set(recording.ledger.graduations)
    assert expected["new"] and expected["migrated"]  # the market left tokens in both

    new = body["columns"]["new"]
    assert [t["created_at"] for t in new] == sorted((t["created_at"] for t in new), reverse=True)
    final = [Decimal(t["progress_pct"]) for t in body["columns"]["final"]]
    assert final == sorted(final, reverse=True) and all(p >= 80 for p in final)
    migrated = body["columns"]["migrated"]
    assert [t["migrated_at"] for t in migrated] == sorted(
        (t["migrated_at"] for t in migrated), reverse=True
    )
    card = migrated[0]
    assert card["column"] == "migrated" and card["pool"] and card["complete"]
    assert card["socials"] == {"twitter": None, "telegram": None, "website": None}
    assert card["age_s"] >= 0 and card["holders"] >= 1


async def test_one_category_and_staff_rules_move_tokens(base_url, market_tokens) -> None:
    body = (await get(base_url, "category=new")).json()
    assert list(body["columns"]) == ["new"]
    on_curve = {m for m, t in market_tokens.items() if t.pool is None}

    # Staff lower the Final Stretch threshold to 0 %: every token on its curve moves there.
    await PulseRules(final_stretch_progress_pct=Decimal(0)).asave()
    body = (await get(base_url)).json()
    assert mints(body, "new") == []
    assert set(mints(body, "final")) == on_curve

    # And a minimum market cap above every curve's hides them all.
    await PulseRules(min_market_cap_sol=Decimal(10**6), column_size=5).asave()
    body = (await get(base_url)).json()
    assert all(body["columns"][c] == [] for c in ("new", "final", "migrated"))


async def test_filters_narrow_every_column(base_url, market_tokens) -> None:
    tokens = market_tokens.values()

    def listed(body: dict) -> set[str]:
        return {m for c in body["columns"] for m in mints(body, c)}

    body = (await get(base_url, "progress_min=20&progress_max=99.5")).json()
    assert listed(body) == {t.mint for t in tokens if 20 <= t.progress_pct <= Decimal("99.5")}
    body = (await get(base_url, "market_cap_min=40")).json()
    assert listed(body) == {t.mint for t in tokens if t.market_cap_sol >= 40}
    body = (await get(base_url, "holders_min=5&top10_max=90")).json()
    assert listed(body) == {t.mint for t in tokens if t.holders >= 5 and t.top10_pct <= 90}
    body = (await get(base_url, "dev_holding_max=0")).json()
    recording = await market_recording()
    assert set(recording.ledger.rugs) <= listed(body)  # rugged: the creator holds nothing
    assert listed(body) == {t.mint for t in tokens if t.dev_holding_pct == 0}
    assert listed((await get(base_url, "has_socials=true")).json()) == set()  # none known yet
    assert listed((await get(base_url, "has_socials=false")).json()) == set(market_tokens)
    assert listed((await get(base_url, "age_min_s=86400")).json()) == set()
    assert listed((await get(base_url, "age_max_s=86400")).json()) == set(market_tokens)
    body = (await get(base_url, "limit=1")).json()
    assert all(len(body["columns"][c]) <= 1 for c in body["columns"])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("colour=red", "colour"),
        ("category=bonded", "category"),
        ("progress_min=101", "progress_min"),
        ("market_cap_min=-1", "market_cap_min"),
        ("market_cap_min=50&market_cap_max=10", "market_cap_max"),
        ("age_min_s=600&age_max_s=60", "age_max_s"),
        ("holders_min=many", "holders_min"),
        ("has_socials=perhaps", "has_socials"),
        ("limit=0", "limit"),
    ],
)
async def test_bad_filters__422_naming_the_field(base_url, query: str, field: str) -> None:
    response = await get(base_url, query)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("validation_error", field)
