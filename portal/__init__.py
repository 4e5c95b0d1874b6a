"""The portal project: settings, URLs, the Celery app, roles, audit log and API tokens."""

from portal.celery import app as celery_app

__all__ = ["celery_app"]
