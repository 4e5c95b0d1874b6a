"""The audit chain and the change numbers are always locked in the same order, so a run
finishing (change number, then audit event) and a triage (audit event, then change number) at
the same moment cannot deadlock."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import transaction

from portal import audit
from portal.sequences import next_change_number
from tests.concurrency import needs_postgresql, run_together

pytestmark = pytest.mark.django_db(transaction=True)


def test_number_then_audit_and_audit_then_number_do_not_deadlock(analyst: Any) -> None:
    needs_postgresql()
    both_inside = threading.Barrier(2, timeout=60)

    def finishing_run() -> None:
        with transaction.atomic():
            next_change_number()
            both_inside.wait()
            time.sleep(0.2)
            audit.record(actor=None, action="run.succeeded")

    def triage() -> None:
        both_inside.wait()
        with transaction.atomic():
            audit.record(actor=analyst, action="finding.status_changed")
            next_change_number()

    errors = run_together(finishing_run, triage)
    assert not errors, errors
    from portal.models import AuditEvent

    assert (
        AuditEvent.objects.filter(action__in=["run.succeeded", "finding.status_changed"]).count()
        == 2
    )
