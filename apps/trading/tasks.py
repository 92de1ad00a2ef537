"""Celery tasks of the `execution` queue: thin wrappers over apps/trading/services.

acks_late + reject_on_worker_lost (config/celery.py): a worker killed mid-order leaves the
task on the queue and another worker runs it again; execute_order resumes from the order's
stored state, so running it twice never sends a second execution.
"""

from __future__ import annotations

import asyncio

from celery import shared_task
from celery.signals import worker_ready


@shared_task(name="apps.trading.tasks.execute_order", acks_late=True)
def execute_order_task(order_id: int) -> str:
    from apps.trading.services.execution import execute_order

    return asyncio.run(_closing(execute_order(order_id)))


@shared_task(name="apps.trading.tasks.resume_orders", acks_late=True)
def resume_orders_task(older_than_seconds: float = 30.0) -> int:
    from datetime import timedelta

    from apps.trading.services.orders import resume_orders

    return asyncio.run(_closing(resume_orders(older_than=timedelta(seconds=older_than_seconds))))


async def _closing(work):
    """Run `work`, then close this loop's HTTP session (asyncio.run ends the loop)."""
    from apps.chain.http import close_http_session

    try:
        return await work
    finally:
        await close_http_session()


@worker_ready.connect
def _resume_on_start(sender=None, **kwargs) -> None:
    """A worker coming up re-dispatches every unfinished order: one a dead worker left
    behind must not wait for the broker's visibility timeout. Running an order that is
    also running elsewhere is harmless (see execute_order)."""
    resume_orders_task.apply_async((0.0,), countdown=1)
