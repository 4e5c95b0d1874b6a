"""Run steps at the same moment on threads of their own, each with its own database connection
(the deadlock tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection


def needs_postgresql() -> None:
    """Skip on SQLite: it has one writer at a time, so lock order only matters on PostgreSQL."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time; the lock order matters on PostgreSQL")


def run_together(*steps: Callable[[], None], timeout: float = 30) -> list[BaseException]:
    """Run every step on a thread of its own and wait for all; the errors they raised."""
    errors: list[BaseException] = []

    def guarded(step: Callable[[], None]) -> None:
        try:
            step()
        except BaseException as exc:  # handed back to the test, which asserts on them
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=guarded, args=(step,)) for step in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return errors
