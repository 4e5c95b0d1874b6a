"""Migration portal 0005 re-signs events of the old unkeyed chain under the keyed one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from portal.audit_chain import legacy_event_hash, signing_key
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("portal", "0004_sealed_webhook_secrets")
AFTER = ("portal", "0005_audit_hmac_chain")


@pytest.fixture(autouse=True)
def _latest_schema_after() -> Iterator[None]:
    """Back to the latest migrations: the later tests of this process (and its Celery worker,
    which writes webhook deliveries with columns added after 0005) need the whole schema."""
    yield
    call_command("migrate", verbosity=0)


def _migrate(target: tuple[str, str]) -> Any:
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    executor.loader.build_graph()
    return executor.loader.project_state([target]).apps


def _legacy_events(apps: Any, user_id: int, tamper: bool) -> list[int]:
    Legacy = apps.get_model("portal", "AuditEvent")
    previous = Legacy.objects.order_by("-id").values_list("hash", flat=True).first() or ""
    ids = []
    start = timezone.now() - timedelta(days=3)
    for i in range(3):
        event = Legacy(
            created_at=start + timedelta(hours=i),
            actor_id=user_id,
            actor_name="alice",
            action=f"legacy.{i}",
            details={"i": i},
            client_ip="192.0.2.1",
            prev_hash=previous,
        )
        event.hash = previous = legacy_event_hash(event)
        event.save()
        ids.append(event.pk)
    if tamper:
        Legacy.objects.filter(pk=ids[1]).update(action="legacy.tampered")
    return ids


@pytest.mark.parametrize("tamper", [False, True])
def test_old_events_are_re_signed_and_verify(analyst: Any, tamper: bool) -> None:
    apps = _migrate(BEFORE)
    ids = _legacy_events(apps, analyst.pk, tamper)
    _migrate(AFTER)
    events = list(AuditEvent.objects.filter(pk__in=ids).order_by("id"))
    assert [e.actor_user_id for e in events] == [analyst.pk] * 3
    assert {e.key_id for e in events} == {signing_key().key_id}
    marker = AuditEvent.objects.get(action="audit.rechained")
    assert marker.details["legacy_chain_intact"] is (not tamper)
    assert marker.details["legacy_chain_first_break"] == (ids[1] if tamper else None)
    call_command("verify_audit")
