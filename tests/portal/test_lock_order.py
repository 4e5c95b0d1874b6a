"""The audit chain and the change numbers are always locked in the same order, so a run
finishing (change number, then audit event) and a triage (audit event, then change number) at
the same moment cannot deadlock."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection, transaction

from portal import audit
from portal.sequences import next_change_number

pytestmark = pytest.mark.django_db(transaction=True)


def test_number_then_audit_and_audit_then_number_do_not_deadlock(analyst: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time; the lock order matters on PostgreSQL")
    errors: list[BaseException] = []
    both_inside = threading.Barrier(2, timeout=10)

    def finishing_run() -> None:
        try:
            with transaction.atomic():
                next_change_number()
                both_inside.wait()
                time.sleep(0.2)
                audit.record(actor=None, action="run.succeeded")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def triage() -> None:
        try:
            both_inside.wait()
            with transaction.atomic():
                audit.record(actor=analyst, action="finding.status_changed")
                next_change_number()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=finishing_run), threading.Thread(target=triage)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    from portal.models import AuditEvent

    assert AuditEvent.objects.count() == 2
