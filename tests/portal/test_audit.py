"""The audit log is append-only and hash-chained."""

from __future__ import annotations

from typing import Any

import pytest

from portal import audit
from portal.audit_chain import signing_key
from portal.models import AuditEvent, AuditLogIsAppendOnly

pytestmark = pytest.mark.django_db


def test_events_chain_each_hash_to_the_previous(analyst: Any) -> None:
    before = AuditEvent.objects.order_by("-id").first()  # creating alice was audited
    first = audit.record(actor=analyst, action="test.one", details={"n": 1}, client_ip="10.0.0.1")
    second = audit.record(actor=analyst, action="test.two", details={"n": 2})
    assert before is not None and first.prev_hash == before.hash
    assert second.prev_hash == first.hash
    stored = AuditEvent.objects.get(pk=second.pk)
    assert stored.compute_hash() == stored.hash
    assert stored.actor_name == "alice" and stored.actor_user_id == analyst.pk


def test_the_hash_is_keyed_outside_the_database(analyst: Any, settings: Any) -> None:
    event = audit.record(actor=analyst, action="test.one", details={"n": 1})
    assert event.key_id == signing_key().key_id
    settings.SECRET_KEY = "another-secret-key-of-sufficient-length-for-the-test-0123456789"
    assert event.compute_hash(signing_key()) != event.hash  # the same row under another key


def test_who_acted_without_signing_in_is_anonymous_and_the_portal_is_system() -> None:
    from django.contrib.auth.models import AnonymousUser

    assert audit.record(actor=AnonymousUser(), action="test.anon").actor_name == "anonymous"
    assert audit.record(actor=None, action="test.system").actor_name == "system"


def test_an_edited_event_no_longer_matches_its_hash(analyst: Any) -> None:
    event = audit.record(actor=analyst, action="test.one", details={"n": 1})
    event.details = {"n": 2}
    assert event.compute_hash() != event.hash


def test_events_cannot_be_changed_or_deleted(analyst: Any) -> None:
    event = audit.record(actor=analyst, action="test.one")
    event.action = "tampered"
    with pytest.raises(AuditLogIsAppendOnly):
        event.save()
    with pytest.raises(AuditLogIsAppendOnly):
        event.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "test.one"


def test_the_admin_offers_no_way_to_change_the_audit_log(admin_user: Any) -> None:
    from django.test import Client

    audit.record(actor=admin_user, action="test.one")
    client = Client()
    client.force_login(admin_user)
    admin_user.is_superuser = True
    admin_user.save()
    event = AuditEvent.objects.get(action="test.one")
    assert client.get("/admin/portal/auditevent/").status_code == 200
    change = client.post(f"/admin/portal/auditevent/{event.pk}/change/", {"action": "x"})
    assert AuditEvent.objects.get(pk=event.pk).action == "test.one"
    assert change.status_code in (200, 403)
    assert (
        client.post(f"/admin/portal/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert AuditEvent.objects.filter(pk=event.pk).exists()
