"""What a Celery worker does as it starts, before its pool takes work."""

from __future__ import annotations

import pytest
from celery.signals import worker_init

from analysis import geo
from portal.celery import app


def test_a_starting_worker_loads_the_shipped_geo_data_before_its_pool_forks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(geo, "_reader", None)
    geo.lookup.cache_clear()
    worker_init.send(sender=app)
    assert geo._reader is not None
    assert geo.lookup("8.8.8.8") == ("US", "United States", None, "GOOGLE")


def test_missing_geo_data_does_not_stop_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise geo.GeoDataMissing("the geoip2fast package is not installed")

    monkeypatch.setattr(geo, "_load", missing)
    worker_init.send(sender=app)  # no error: a run that needs geo says so itself
    assert geo.preload() is False
