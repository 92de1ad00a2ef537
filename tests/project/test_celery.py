"""Celery on Redis: a real worker consumes the three queues; tasks route by app."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("task_name", "queue"),
    [
        ("apps.trading.tasks.execute_order", "execution"),
        ("apps.ingestion.tasks.poll_pump_fun", "ingestion"),
        ("apps.monitoring.tasks.anything", "default"),
    ],
)
def test_task_routes__by_app__to_its_queue(task_name, queue):
    route = celery_app.amqp.router.route({}, task_name)

    assert route["queue"].name == queue


def test_house_rules__acks_late_and_requeue_on_worker_loss():
    assert celery_app.conf.task_acks_late is True
    assert celery_app.conf.task_reject_on_worker_lost is True
    assert celery_app.conf.worker_prefetch_multiplier == 1


@pytest.mark.slow
def test_real_worker__on_redis__consumes_execution_ingestion_default():
    assert settings.REDIS_URL, "make test runs the suite with REDIS_URL set"
    name = f"test-{os.getpid()}@localhost"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            "execution,ingestion,default",
            "--pool",
            "solo",
            "-n",
            name,
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": settings.REDIS_URL},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        queues = None
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not queues:
            replies = celery_app.control.inspect(destination=[name], timeout=1).active_queues()
            queues = (replies or {}).get(name)
        assert queues, "the worker never answered"
        assert {q["name"] for q in queues} == {"execution", "ingestion", "default"}
    finally:
        worker.terminate()
        worker.wait(timeout=20)
