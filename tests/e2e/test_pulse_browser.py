"""The Pulse board in a real browser (Debian's headless Chromium, driven by Playwright):
the localnet's market launches and graduates coins, the monitor streams them over real
gRPC into the bus (real Redis), and /pulse/ shows them appear and move between columns
over the WebSocket; after a dropped connection the board resumes from its last event id."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from playwright.async_api import async_playwright

from apps.chain.localnet import start_localnet_in_thread
from apps.chain.localnet.market import MarketGenerator
from apps.monitoring.services.geyser_stream import StreamConfig, build_subscriber
from apps.monitoring.services.token_processor import TokenStateProcessor
from config.asgi import application
from tests.monitoring.geyser_helpers import BUSY
from tests.servers import serve_asgi

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def chromium_path() -> str:
    # `make test` installs it (scripts/ensure-services.sh): a missing browser is a failure.
    assert shutil.which(CHROMIUM), f"{CHROMIUM} is missing: apt-get install chromium"
    return CHROMIUM


async def _run_market(generator: MarketGenerator, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await generator.step()
        await asyncio.sleep(0.01)


async def test_pulse_board__tokens_appear_and_move_between_columns(chromium_path):
    with start_localnet_in_thread(slot_ms=100) as net, serve_asgi(application) as base:
        processor = TokenStateProcessor()
        subscriber = build_subscriber(
            processor,
            StreamConfig(url=net.grpc_target, name=f"browser-{uuid.uuid4().hex[:8]}"),
        )
        monitor = asyncio.create_task(subscriber.run())
        generator = MarketGenerator(net.rpc_url, BUSY)
        await generator.setup()
        stop = asyncio.Event()
        market = asyncio.create_task(_run_market(generator, stop))
        console_errors: list[str] = []
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=chromium_path, headless=True, args=["--no-sandbox"]
                )
                page = await browser.new_page()
                page.on(
                    "console",
                    lambda msg: console_errors.append(msg.text) if msg.type == "error" else None,
                )
                page.on("pageerror", lambda exc: console_errors.append(str(exc)))
                subscribes: list[dict] = []
                page.on(
                    "websocket",
                    lambda ws: ws.on(
                        "framesent",
                        lambda payload: (
                            subscribes.append(json.loads(payload))
                            if '"subscribe"' in str(payload)
                            else None
                        ),
                    ),
                )
                started = time.monotonic()
                await page.goto(f"{base}/pulse/")
                await page.wait_for_selector('#status[data-state="live"]', timeout=15_000)
                await page.wait_for_selector("#column-new li.token", timeout=20_000)
                seen_new = await page.eval_on_selector_all(
                    "#column-new li.token", "rows => rows.map(r => r.dataset.mint)"
                )
                # A token first listed under New Pairs shows up in another column later.
                moved = await page.wait_for_function(
                    """(mints) => {
                        const rows = document.querySelectorAll(
                            '#column-final li.token, #column-migrated li.token');
                        for (const row of rows) {
                            if (mints.includes(row.dataset.mint)) return row.dataset.mint;
                        }
                        // Tokens launched after the first look count too once seen in New.
                        for (const row of document.querySelectorAll('#column-new li.token')) {
                            if (!mints.includes(row.dataset.mint)) mints.push(row.dataset.mint);
                        }
                        return false;
                    }""",
                    arg=seen_new,
                    timeout=40_000,
                    polling=200,
                )
                moved_mint = await moved.json_value()
                moved_after = time.monotonic() - started
                symbols = await page.eval_on_selector_all(
                    "li.token .symbol", "els => els.map(e => e.textContent)"
                )
                counts = {
                    column: int(await page.text_content(f'[data-count="{column}"]'))
                    for column in ("new", "final", "migrated")
                }
                # A dropped connection resumes from the last event applied: the board
                # reconnects and subscribes with last_ids, and events keep coming.
                # (A closing socket delivers no more messages: lastId is final here.)
                last_id = await page.evaluate("(() => { socket.close(); return lastId; })()")
                await page.wait_for_selector(
                    '#status[data-state="reconnecting"]', state="attached", timeout=5_000
                )
                await page.wait_for_selector('#status[data-state="live"]', timeout=15_000)
                await page.wait_for_function(
                    "before => lastId !== before", arg=last_id, timeout=20_000, polling=100
                )
                await browser.close()
        finally:
            stop.set()
            market.cancel()
            monitor.cancel()
            for task in (market, monitor):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, 10)  # bounded: a stuck task fails
            await asyncio.wait_for(processor.close(), 10)
            # The processor's writes ran on asgiref's sync thread: close its connection there.
            await sync_to_async(connections.close_all)()

    assert seen_new, "no token appeared under New Pairs"
    assert moved_after < 40
    assert isinstance(moved_mint, str) and len(moved_mint) >= 32
    assert all(symbols), "a token row without its symbol"
    assert counts["final"] + counts["migrated"] >= 1
    assert console_errors == []
    assert subscribes[0] == {"op": "subscribe", "topics": ["pulse"]}
    assert len(subscribes) == 2, subscribes
    assert last_id, "no event applied before the drop"
    assert subscribes[1] == {"op": "subscribe", "topics": ["pulse"], "last_ids": {"pulse": last_id}}
