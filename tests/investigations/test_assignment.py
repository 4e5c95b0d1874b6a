"""Assignee and tags of an investigation: who may set them, the rules, the audit trail, the
list filters and the API."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from investigations.models import Investigation, Tag
from investigations.services import (
    RunRequestInvalid,
    create_investigation,
    set_assignee,
    set_members,
    set_tags,
)
from portal.models import AuditEvent
from tests.conftest import client_for
from tests.factories import InvestigationFactory

pytestmark = pytest.mark.django_db


def _detail(investigation: Any) -> str:
    return reverse("investigations:detail", args=[investigation.pk])


# ----------------------------------------------------------------------------- the service


def test_a_member_assigns_the_investigation_to_another_member_and_it_is_audited(
    investigation: Any, teammate: Any, analyst: Any
) -> None:
    set_assignee(user=teammate, investigation=investigation, assignee=analyst)
    investigation.refresh_from_db()
    assert investigation.assignee == analyst
    event = AuditEvent.objects.get(action="investigation.assignee_changed")
    assert event.actor == teammate and event.details == {"from": None, "to": "alice"}
    assert event.target_id == str(investigation.pk)


def test_only_the_owner_or_a_member_can_be_assigned(
    investigation: Any, analyst: Any, outsider: Any, manager: Any
) -> None:
    for someone in (outsider, manager):
        with pytest.raises(RunRequestInvalid, match="only the owner or a member"):
            set_assignee(user=analyst, investigation=investigation, assignee=someone)
    investigation.refresh_from_db()
    assert investigation.assignee is None
    assert not AuditEvent.objects.filter(action="investigation.assignee_changed").exists()


def test_managers_and_outsiders_cannot_assign(
    investigation: Any, analyst: Any, manager: Any, outsider: Any
) -> None:
    for someone in (manager, outsider):
        with pytest.raises(PermissionDenied):
            set_assignee(user=someone, investigation=investigation, assignee=analyst)


def test_assigning_the_same_person_again_writes_nothing(investigation: Any, analyst: Any) -> None:
    set_assignee(user=analyst, investigation=investigation, assignee=analyst)
    set_assignee(user=analyst, investigation=investigation, assignee=analyst)
    assert AuditEvent.objects.filter(action="investigation.assignee_changed").count() == 1


def test_unsharing_the_assignee_unassigns_the_investigation(
    investigation: Any, analyst: Any, teammate: Any
) -> None:
    set_assignee(user=analyst, investigation=investigation, assignee=teammate)
    set_members(user=analyst, investigation=investigation, members=[])
    investigation.refresh_from_db()
    assert investigation.assignee is None
    event = AuditEvent.objects.filter(action="investigation.assignee_changed").first()
    assert event is not None
    assert event.details == {"from": "bob", "to": None, "reason": "no longer a member"}


def test_tags_are_normalised_deduplicated_and_shared(investigation: Any, analyst: Any) -> None:
    set_tags(
        user=analyst,
        investigation=investigation,
        names=["  SSH  ", "ssh", "Lateral   Movement", "\uff26\uff55\uff4c\uff4c", ""],
    )
    assert sorted(investigation.tags.values_list("name", flat=True)) == [
        "full",
        "lateral movement",
        "ssh",
    ]
    other = InvestigationFactory(owner=analyst)
    set_tags(user=analyst, investigation=other, names=["Ssh"])
    assert Tag.objects.filter(name="ssh").count() == 1
    assert set(Tag.objects.get(name="ssh").investigations.all()) == {investigation, other}


def test_changing_tags_is_audited_with_what_was_added_and_removed(
    investigation: Any, analyst: Any
) -> None:
    set_tags(user=analyst, investigation=investigation, names=["ssh", "web"])
    set_tags(user=analyst, investigation=investigation, names=["web", "exfiltration"])
    set_tags(user=analyst, investigation=investigation, names=["Web", "EXFILTRATION"])  # same
    events = list(AuditEvent.objects.filter(action="investigation.tags_changed").order_by("id"))
    assert len(events) == 2
    assert events[1].details == {
        "from": ["ssh", "web"],
        "to": ["exfiltration", "web"],
        "added": ["exfiltration"],
        "removed": ["ssh"],
    }


@pytest.mark.parametrize(
    ("names", "reason"),
    [
        (["a" * 51], "longer than 50"),
        (["bad\x00tag"], "control or invisible"),
        (["zero\u200bwidth"], "control or invisible"),
        ([f"tag {n}" for n in range(21)], "At most 20"),
    ],
)
def test_bad_tags_are_refused_with_the_reason(
    investigation: Any, analyst: Any, names: list[str], reason: str
) -> None:
    with pytest.raises(RunRequestInvalid, match=reason):
        set_tags(user=analyst, investigation=investigation, names=names)
    assert not investigation.tags.exists()


def test_a_new_investigation_can_start_with_tags_and_its_owner_assigned(
    analyst: Any, teammate: Any
) -> None:
    created = create_investigation(
        user=analyst, title="Case", members=[teammate], tags=["SSH"], assignee=teammate
    )
    assert created.assignee == teammate
    assert list(created.tags.values_list("name", flat=True)) == ["ssh"]
    event = AuditEvent.objects.get(action="investigation.created")
    assert event.details["tags"] == ["ssh"] and event.details["assignee"] == "bob"


# ------------------------------------------------------------------------------- the pages


def test_the_detail_page_shows_and_changes_the_assignee(
    investigation: Any, analyst: Any, teammate: Any
) -> None:
    client = client_for(analyst)
    page = client.get(_detail(investigation)).content.decode()
    assert "Unassigned" in page and "Assign to me" in page
    assert "The owner or a member of this investigation" in page  # the rule, as help text
    response = client.post(
        reverse("investigations:assignee", args=[investigation.pk]), {"assignee": teammate.pk}
    )
    assert response.status_code == 302
    page = client.get(_detail(investigation)).content.decode()
    assert 'id="assignee-value">bob<' in page
    assert "Assigned to bob." in page


def test_the_assignee_form_offers_only_the_owner_and_members(
    investigation: Any, analyst: Any, outsider: Any
) -> None:
    client = client_for(analyst)
    page = client.get(_detail(investigation)).content.decode()
    assert f'<option value="{outsider.pk}"' not in page
    client.post(
        reverse("investigations:assignee", args=[investigation.pk]), {"assignee": outsider.pk}
    )
    investigation.refresh_from_db()
    assert investigation.assignee is None
    assert "Select a valid choice" in client.get(_detail(investigation)).content.decode()


def test_tags_are_saved_from_the_page_and_shown_escaped(investigation: Any, teammate: Any) -> None:
    client = client_for(teammate)
    client.post(
        reverse("investigations:tags", args=[investigation.pk]),
        {"tags": "ssh, <script>alert(1)</script>"},
    )
    assert set(investigation.tags.values_list("name", flat=True)) == {
        "ssh",
        "<script>alert(1)</script>",
    }
    page = client.get(_detail(investigation)).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    listing = client.get(reverse("investigations:list")).content.decode()
    assert "<script>alert(1)</script>" not in listing
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing


def test_a_bad_tag_on_the_page_is_reported_and_nothing_changes(
    investigation: Any, analyst: Any
) -> None:
    client = client_for(analyst)
    client.post(reverse("investigations:tags", args=[investigation.pk]), {"tags": "a" * 60})
    assert not investigation.tags.exists()
    assert "longer than 50" in client.get(_detail(investigation)).content.decode()


def test_readers_see_assignee_and_tags_but_no_forms(
    investigation: Any, analyst: Any, manager: Any
) -> None:
    set_assignee(user=analyst, investigation=investigation, assignee=analyst)
    set_tags(user=analyst, investigation=investigation, names=["ssh"])
    page = client_for(manager).get(_detail(investigation)).content.decode()
    assert 'id="assignee-value">alice<' in page and ">ssh</a>" in page
    assert reverse("investigations:assignee", args=[investigation.pk]) not in page
    assert reverse("investigations:tags", args=[investigation.pk]) not in page


def test_the_create_form_takes_tags(analyst: Any) -> None:
    client_for(analyst).post(
        reverse("investigations:create"),
        {"title": "Tagged", "description": "", "tags": "Beacon, C2"},
    )
    created = Investigation.objects.get(title="Tagged")
    assert sorted(created.tags.values_list("name", flat=True)) == ["beacon", "c2"]


# ---------------------------------------------------------------------------- list filters


@pytest.fixture
def cases(analyst: Any, teammate: Any) -> dict[str, Investigation]:
    mine = InvestigationFactory(owner=teammate, title="Assigned to alice")
    mine.members.add(analyst)
    set_assignee(user=teammate, investigation=mine, assignee=analyst)
    set_tags(user=teammate, investigation=mine, names=["ssh"])
    theirs = InvestigationFactory(owner=teammate, title="Assigned to bob")
    theirs.members.add(analyst)
    set_assignee(user=teammate, investigation=theirs, assignee=teammate)
    set_tags(user=teammate, investigation=theirs, names=["ssh", "exfiltration"])
    nobody = InvestigationFactory(owner=analyst, title="Nobody on it")
    return {"mine": mine, "theirs": theirs, "nobody": nobody}


def _titles(client: Any, **params: str) -> set[str]:
    body = client.get(reverse("investigations:list"), params).content.decode()
    return {
        title
        for title in ("Assigned to alice", "Assigned to bob", "Nobody on it")
        if f">{title}</a>" in body
    }


def test_the_list_filters_by_assignee_and_tag(
    cases: dict[str, Investigation], analyst: Any
) -> None:
    client = client_for(analyst)
    assert _titles(client, assignee="me") == {"Assigned to alice"}
    assert _titles(client, assignee="none") == {"Nobody on it"}
    assert _titles(client, assignee="bob") == {"Assigned to bob"}
    assert _titles(client, tag="SSH") == {"Assigned to alice", "Assigned to bob"}
    assert _titles(client, tag="exfiltration", assignee="bob") == {"Assigned to bob"}
    assert _titles(client, tag="nothing-like-it") == set()
    assert _titles(client) == {"Assigned to alice", "Assigned to bob", "Nobody on it"}


def test_the_list_shows_assignee_and_tags_and_offers_only_visible_tags(
    cases: dict[str, Investigation], analyst: Any, outsider: Any
) -> None:
    secret = InvestigationFactory(owner=outsider, title="Secret")
    set_tags(user=outsider, investigation=secret, names=["customer acme breach"])
    body = client_for(analyst).get(reverse("investigations:list")).content.decode()
    assert '<option value="ssh">ssh</option>' in body
    assert "customer acme breach" not in body
    assert f'href="{reverse("investigations:list")}?tag=exfiltration"' in body


def test_the_filters_show_what_is_filtered_on(
    cases: dict[str, Investigation], analyst: Any
) -> None:
    body = (
        client_for(analyst)
        .get(reverse("investigations:list"), {"tag": "  SSH ", "assignee": "carol"})
        .content.decode()
    )
    assert '<option value="ssh" selected>ssh</option>' in body
    assert '<option value="carol" selected>carol</option>' in body
    assert "No investigations match these filters." in body


def test_assigned_to_me_on_the_list_means_the_caller(
    cases: dict[str, Investigation], teammate: Any
) -> None:
    assert _titles(client_for(teammate), assignee="me") == {"Assigned to bob"}


# ----------------------------------------------------------------------------------- API


def test_the_api_shows_and_changes_assignee_and_tags(
    cases: dict[str, Investigation], analyst: Any, teammate: Any
) -> None:
    client = client_for(analyst)
    url = f"/api/v1/investigations/{cases['mine'].pk}/"
    body = client.get(url).json()
    assert body["assignee"] == "alice" and body["tags"] == ["ssh"]
    response = client.patch(
        url,
        {"assignee": "bob", "tags": ["SSH", "Beacon"], "status": "closed"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["assignee"] == "bob"
    assert response.json()["tags"] == ["beacon", "ssh"]
    assert response.json()["status"] == "closed"
    unassigned = client.patch(url, {"assignee": None}, content_type="application/json")
    assert unassigned.json()["assignee"] is None


def test_a_refused_api_change_changes_nothing(
    cases: dict[str, Investigation], analyst: Any, outsider: Any
) -> None:
    client = client_for(analyst)
    url = f"/api/v1/investigations/{cases['mine'].pk}/"
    response = client.patch(
        url,
        {"status": "closed", "tags": ["ok"], "assignee": "mallory"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "only the owner or a member" in response.json()["detail"]
    unknown = client.patch(
        url, {"assignee": "nobody-by-that-name"}, content_type="application/json"
    )
    assert unknown.json()["detail"].replace("nobody-by-that-name", "X") == response.json()[
        "detail"
    ].replace("mallory", "X")
    cases["mine"].refresh_from_db()
    assert cases["mine"].status == "open" and cases["mine"].assignee == analyst
    assert list(cases["mine"].tags.values_list("name", flat=True)) == ["ssh"]
    assert client.patch(url, {}, content_type="application/json").status_code == 400


def test_the_api_creates_with_tags_and_lists_with_the_page_filters(
    cases: dict[str, Investigation], analyst: Any
) -> None:
    client = client_for(analyst)
    created = client.post(
        "/api/v1/investigations/",
        {"title": "From the SIEM", "tags": ["Beacon"], "assignee": "alice"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["tags"] == ["beacon"] and created.json()["assignee"] == "alice"
    refused = client.post(
        "/api/v1/investigations/",
        {"title": "x", "assignee": "bob"},
        content_type="application/json",
    )
    assert refused.status_code == 400
    mine = client.get("/api/v1/investigations/", {"assignee": "me"}).json()["results"]
    assert {i["title"] for i in mine} == {"Assigned to alice", "From the SIEM"}
    tagged = client.get("/api/v1/investigations/", {"tag": "exfiltration"}).json()["results"]
    assert [i["title"] for i in tagged] == ["Assigned to bob"]
    assert client.get("/api/v1/investigations/", {"since": "soon"}).status_code == 400
