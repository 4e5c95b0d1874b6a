"""The Celery application; configuration comes from Django settings (CELERY_* names)."""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def preload_reference_data(**_kwargs: Any) -> None:
    """The shipped country/AS data is loaded in the worker's parent process, before its pool
    processes are forked from it: they share it, and a worker's first run does not pay the load
    (geo at 1M lines took 1.2 s on its first use in a process, 0.7 s once the data was in)."""
    from analysis import geo

    geo.preload()
