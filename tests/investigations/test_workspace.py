"""Notes, status and sharing on the investigation page and API."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from portal.models import AuditEvent
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_a_member_adds_a_note_and_it_shows_in_the_timeline(
    investigation: Any, teammate: Any
) -> None:
    client = client_for(teammate)
    client.post(
        reverse("investigations:note_add", args=[investigation.pk]),
        {"text": "Blocked 203.0.113.50 at the NACL <b>now</b>"},
    )
    page = client.get(reverse("investigations:detail", args=[investigation.pk]))
    assert b"Blocked 203.0.113.50 at the NACL &lt;b&gt;now&lt;/b&gt;" in page.content
    assert AuditEvent.objects.get(action="investigation.note_added").actor == teammate


def test_a_manager_cannot_add_notes_or_close(investigation: Any, manager: Any) -> None:
    client = client_for(manager)
    assert (
        client.post(
            reverse("investigations:note_add", args=[investigation.pk]), {"text": "x"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            reverse("investigations:status", args=[investigation.pk]), {"status": "closed"}
        ).status_code
        == 403
    )
    investigation.refresh_from_db()
    assert investigation.status == "open"


def test_closing_and_reopening_is_audited(investigation: Any, analyst: Any) -> None:
    client = client_for(analyst)
    client.post(reverse("investigations:status", args=[investigation.pk]), {"status": "closed"})
    investigation.refresh_from_db()
    assert investigation.status == "closed"
    event = AuditEvent.objects.get(action="investigation.status_changed")
    assert event.details == {"from": "open", "to": "closed"}


def test_only_the_owner_changes_sharing(
    investigation: Any, analyst: Any, teammate: Any, outsider: Any
) -> None:
    url = reverse("investigations:members", args=[investigation.pk])
    assert client_for(teammate).post(url, {"members": [outsider.pk]}).status_code == 403
    client_for(analyst).post(url, {"members": [outsider.pk]})
    assert list(investigation.members.all()) == [outsider]
    assert (
        client_for(outsider)
        .get(reverse("investigations:detail", args=[investigation.pk]))
        .status_code
        == 200
    )
    assert (
        client_for(teammate)
        .get(reverse("investigations:detail", args=[investigation.pk]))
        .status_code
        == 404
    )


def test_the_api_changes_status_and_adds_notes(
    investigation: Any, analyst: Any, manager: Any
) -> None:
    client = client_for(analyst)
    url = f"/api/v1/investigations/{investigation.pk}/"
    response = client.patch(url, {"status": "closed"}, content_type="application/json")
    assert response.status_code == 200 and response.json()["status"] == "closed"
    assert (
        client.patch(url, {"status": "maybe"}, content_type="application/json").status_code == 400
    )
    created = client.post(
        f"{url}notes/", {"text": "Escalated to IR"}, content_type="application/json"
    )
    assert created.status_code == 201
    notes = client.get(f"{url}notes/").json()
    assert [n["text"] for n in notes] == ["Escalated to IR"]
    assert (
        client_for(manager)
        .patch(url, {"status": "open"}, content_type="application/json")
        .status_code
        == 403
    )
    assert client.delete(url).status_code == 405
