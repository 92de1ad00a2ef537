from django.contrib import admin
from django.urls import path

from apps.monitoring.views import prometheus_metrics, pulse_board
from apps.realtime.sse import event_stream
from config.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    # Before the Ninja API: a plain async view streaming Server-Sent Events.
    path("api/stream", event_stream, name="event-stream"),
    path("api/", api.urls),
    path("metrics", prometheus_metrics, name="metrics"),
    path("pulse/", pulse_board, name="pulse-board"),
]
