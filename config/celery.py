"""The Celery app. Queues split by kind so execution never waits behind ingestion.

House rule: tasks are acks_late and idempotent (a worker killed mid-task means the
task runs again, so it must be safe to run twice). Without REDIS_URL tasks run
eagerly in process (CELERY_TASK_ALWAYS_EAGER), the embedded default.
"""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_queues=(Queue("execution"), Queue("ingestion"), Queue("default")),
    task_default_queue="default",
    task_routes={
        "apps.trading.tasks.*": {"queue": "execution"},
        "apps.ingestion.tasks.*": {"queue": "ingestion"},
    },
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_eager_propagates=True,
    task_serializer="json",
    accept_content=["json"],
    result_expires=3600,
    broker_connection_retry_on_startup=True,
)
app.autodiscover_tasks()
