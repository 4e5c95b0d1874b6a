"""Concurrency caps kept in the database: a limit that holds whichever process asks."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from portal import concurrency
from portal.models import ConcurrencySlot

pytestmark = pytest.mark.django_db


def test_no_more_holders_than_the_limit() -> None:
    taken = [
        concurrency.acquire("acct:1", limit=2, holder=f"run:{n}", lease_seconds=60)
        for n in range(3)
    ]
    assert taken == [concurrency.Acquired.NEW, concurrency.Acquired.NEW, concurrency.Acquired.NO]
    assert concurrency.holders("acct:1") == ["run:0", "run:1"]
    # Other scopes are counted apart.
    assert concurrency.acquire("acct:2", limit=2, holder="run:2", lease_seconds=60)


def test_a_released_slot_is_free_again() -> None:
    assert concurrency.acquire("acct:1", limit=1, holder="run:1", lease_seconds=60)
    assert not concurrency.acquire("acct:1", limit=1, holder="run:2", lease_seconds=60)
    concurrency.release("acct:1", holder="run:1")
    assert concurrency.acquire("acct:1", limit=1, holder="run:2", lease_seconds=60)


def test_a_redelivered_holder_keeps_its_slot_and_renews_it() -> None:
    assert concurrency.acquire("acct:1", limit=1, holder="run:1", lease_seconds=1) is (
        concurrency.Acquired.NEW
    )
    before = ConcurrencySlot.objects.get().expires_at
    again = concurrency.acquire("acct:1", limit=1, holder="run:1", lease_seconds=600)
    assert again is concurrency.Acquired.HELD
    assert ConcurrencySlot.objects.get().expires_at > before
    assert ConcurrencySlot.objects.count() == 1


def test_the_slot_of_a_dead_holder_frees_itself_when_its_lease_ends() -> None:
    assert concurrency.acquire("acct:1", limit=1, holder="run:dead", lease_seconds=60)
    ConcurrencySlot.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert concurrency.holders("acct:1") == []
    assert concurrency.acquire("acct:1", limit=1, holder="run:2", lease_seconds=60)
    assert not concurrency.renew("acct:1", holder="run:dead", lease_seconds=60)
    assert concurrency.renew("acct:1", holder="run:2", lease_seconds=60)


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        concurrency.acquire("acct:1", limit=0, holder="run:1", lease_seconds=60)


@pytest.mark.django_db(transaction=True)
def test_racing_claimants_never_exceed_the_limit() -> None:
    """Eight threads (eight database connections) race for three slots, many times over."""
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL (CI runs it)")
    results: list[Any] = []
    barrier = threading.Barrier(8)

    def claim(holder: str) -> None:
        from django.db import connection as own

        try:
            barrier.wait()
            results.append(
                concurrency.acquire("acct:race", limit=3, holder=holder, lease_seconds=60)
            )
        finally:
            own.close()

    for round_ in range(5):
        ConcurrencySlot.objects.all().delete()
        results.clear()
        threads = [threading.Thread(target=claim, args=(f"run:{round_}:{n}",)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(1 for result in results if result) == 3
        assert ConcurrencySlot.objects.filter(scope="acct:race").count() == 3
