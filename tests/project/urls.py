"""Test URLconf: the project's URLs plus two probes of how a view was run."""

import threading

from asgiref.sync import SyncToAsync
from django.http import JsonResponse
from django.urls import path

from config.urls import urlpatterns as project_urlpatterns


def _where() -> dict:
    return {
        "thread": threading.get_ident(),
        "thread_sensitive_context": SyncToAsync.thread_sensitive_context.get(None) is not None,
    }


async def async_probe(request):
    return JsonResponse(_where())


def sync_probe(request):
    return JsonResponse(_where())


urlpatterns = [
    path("probe/async", async_probe),
    path("probe/sync", sync_probe),
    *project_urlpatterns,
]
