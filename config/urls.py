from django.contrib import admin
from django.urls import path

from apps.monitoring.views import prometheus_metrics
from config.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("metrics", prometheus_metrics, name="metrics"),
]
