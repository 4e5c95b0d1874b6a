"""Changes to an investigation (status, assignee, tags, sharing, notes) take the audit chain's
lock before the investigation's row, as a run submission does, so the two never deadlock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from investigations.models import Investigation
from investigations.services import (
    add_note,
    set_assignee,
    set_investigation_status,
    set_members,
    set_tags,
)
from portal import audit
from tests.concurrency import needs_postgresql, run_together

pytestmark = pytest.mark.django_db(transaction=True)

CHANGES: dict[str, Callable[[Any, Any, Any], Any]] = {
    "status": lambda user, inv, mate: set_investigation_status(
        user=user, investigation=inv, status="closed"
    ),
    "assignee": lambda user, inv, mate: set_assignee(user=user, investigation=inv, assignee=mate),
    "tags": lambda user, inv, mate: set_tags(user=user, investigation=inv, names=["ssh"]),
    "members": lambda user, inv, mate: set_members(user=user, investigation=inv, members=[]),
    "note": lambda user, inv, mate: add_note(user=user, investigation=inv, text="hi"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_and_a_run_submission_at_once_do_not_deadlock(
    change: str, investigation: Any, analyst: Any, teammate: Any
) -> None:
    needs_postgresql()
    both_started = threading.Barrier(2, timeout=60)

    def submission() -> None:
        # What _create_run does: the audit event, then the investigation's updated_at.
        with transaction.atomic():
            audit.record(actor=analyst, action="run.submitted", target=investigation)
            both_started.wait()
            time.sleep(0.3)
            Investigation.objects.filter(pk=investigation.pk).update(updated_at=timezone.now())

    def the_change() -> None:
        both_started.wait()
        CHANGES[change](analyst, Investigation.objects.get(pk=investigation.pk), teammate)

    errors = run_together(submission, the_change)
    assert not errors, errors
