"""The Django project (named config/, not platform/: that would shadow the stdlib module)."""

from config.celery import app as celery_app

__all__ = ["celery_app"]
