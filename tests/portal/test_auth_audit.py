"""Sign-ins and account changes are audit events, wherever they happen, with address and browser."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from portal.models import AuditEvent
from tests.conftest import client_for
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0"
ADDRESS = "198.51.100.23"


def _client() -> Client:
    return Client(REMOTE_ADDR=ADDRESS, HTTP_USER_AGENT=BROWSER)


def _only(action: str) -> AuditEvent:
    return AuditEvent.objects.get(action=action)


def _from_the_browser(event: AuditEvent) -> bool:
    return event.client_ip == ADDRESS and event.user_agent == BROWSER


def test_a_login_is_recorded_with_address_and_browser(analyst: Any) -> None:
    client = _client()
    assert (
        client.post(reverse("login"), {"username": "alice", "password": PASSWORD}).status_code
        == 302
    )
    event = _only("auth.login")
    assert event.actor == analyst and event.actor_name == "alice"
    assert event.target_id == str(analyst.pk) and _from_the_browser(event)


def test_a_failed_login_is_recorded_with_the_name_tried(analyst: Any) -> None:
    _client().post(reverse("login"), {"username": "alice", "password": "wrong"})
    event = _only("auth.login_failed")
    assert event.actor is None and event.actor_name == "anonymous"
    assert event.details == {"username": "alice"} and _from_the_browser(event)
    assert "wrong" not in str(event.details)
    assert not AuditEvent.objects.filter(action="auth.login").exists()


def test_a_lockout_is_recorded(analyst: Any, settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    client = _client()
    for _ in range(3):
        client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    assert (
        client.post(reverse("login"), {"username": "alice", "password": PASSWORD}).status_code
        == 429
    )
    locked = AuditEvent.objects.filter(action="auth.locked_out")
    assert locked.count() >= 1
    event = locked.first()
    assert event is not None and event.details == {"username": "alice"}
    assert _from_the_browser(event)
    assert not AuditEvent.objects.filter(action="auth.login").exists()


def test_a_logout_is_recorded(analyst: Any) -> None:
    client = _client()
    client.force_login(analyst)
    client.post(reverse("logout"))
    event = _only("auth.logout")
    assert event.actor == analyst and _from_the_browser(event)


def test_a_password_change_on_the_page_is_recorded(analyst: Any) -> None:
    client = _client()
    client.force_login(analyst)
    new = "a-much-better-secret-42"
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    event = AuditEvent.objects.filter(action="user.password_changed").latest("id")
    assert event.actor == analyst and event.target_id == str(analyst.pk)
    assert event.details == {"username": "alice", "usable": True} and _from_the_browser(event)
    assert analyst.password not in str(event.details)


def test_a_password_rehash_on_login_is_not_a_change(analyst: Any, settings: Any) -> None:
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    class Stronger(PBKDF2PasswordHasher):
        iterations = PBKDF2PasswordHasher.iterations + 1

    changes = AuditEvent.objects.filter(action="user.password_changed").count()
    settings.PASSWORD_HASHERS = [f"{__name__}.StrongerForTest", *settings.PASSWORD_HASHERS]
    globals()["StrongerForTest"] = Stronger
    before = get_user_model().objects.get(pk=analyst.pk).password
    assert (
        _client().post(reverse("login"), {"username": "alice", "password": PASSWORD}).status_code
        == 302
    )
    assert get_user_model().objects.get(pk=analyst.pk).password != before  # re-hashed
    assert AuditEvent.objects.filter(action="user.password_changed").count() == changes


@pytest.fixture
def superuser(admin_user: Any) -> Any:
    admin_user.is_superuser = True
    admin_user.save()
    return admin_user


def _change_form_data(response: Any) -> dict[str, Any]:
    """What the admin's change form would post back unchanged."""
    form = response.context["adminform"].form
    data: dict[str, Any] = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if value is None or value is False:
            continue
        if hasattr(field.widget, "decompress"):
            for i, part in enumerate(field.widget.decompress(value)):
                data[f"{name}_{i}"] = part
        elif isinstance(value, list | tuple):
            data[name] = [getattr(v, "pk", v) for v in value]
        else:
            data[name] = "on" if value is True else value
    return data


def test_the_admin_creating_a_user_is_recorded_as_the_admin(superuser: Any) -> None:
    client = client_for(superuser)
    response = client.post(
        "/admin/auth/user/add/",
        {
            "username": "erin",
            "usable_password": "true",
            "password1": "a-strong-pass-for-erin",
            "password2": "a-strong-pass-for-erin",
        },
        REMOTE_ADDR=ADDRESS,
        HTTP_USER_AGENT=BROWSER,
    )
    assert response.status_code == 302, response.content[:500]
    erin = get_user_model().objects.get(username="erin")
    created = AuditEvent.objects.get(action="user.created", target_id=str(erin.pk))
    assert created.actor == superuser and created.target_id == str(erin.pk)
    assert created.details["username"] == "erin" and _from_the_browser(created)


def test_the_admin_changing_roles_and_deactivating_is_recorded(
    superuser: Any, analyst: Any
) -> None:
    client = client_for(superuser)
    url = f"/admin/auth/user/{analyst.pk}/change/"
    data = _change_form_data(client.get(url))
    assert data["is_active"] == "on"
    data.pop("is_active")
    data["groups"] = [Group.objects.get(name="manager").pk]
    response = client.post(url, data, REMOTE_ADDR=ADDRESS, HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 302, response.context["adminform"].form.errors
    deactivated = _only("user.deactivated")
    assert deactivated.actor == superuser and deactivated.target_id == str(analyst.pk)
    assert _from_the_browser(deactivated)
    roles = AuditEvent.objects.filter(action="user.roles_changed", actor=superuser)
    assert sorted(roles.values_list("details", flat=True), key=str) == [
        {"username": "alice", "added": ["manager"]},
        {"username": "alice", "removed": ["analyst"]},
    ]


def test_the_admin_setting_a_password_and_deleting_a_user_is_recorded(
    superuser: Any, teammate: Any
) -> None:
    client = client_for(superuser)
    new = "another-strong-pass-7"
    response = client.post(
        f"/admin/auth/user/{teammate.pk}/password/",
        {"usable_password": "true", "password1": new, "password2": new},
    )
    assert response.status_code == 302
    changed = AuditEvent.objects.filter(action="user.password_changed").latest("id")
    assert changed.actor == superuser and changed.target_id == str(teammate.pk)
    assert (
        client.post(f"/admin/auth/user/{teammate.pk}/delete/", {"post": "yes"}).status_code == 302
    )
    deleted = _only("user.deleted")
    assert deleted.actor == superuser and deleted.details == {"username": "bob"}


def test_changes_outside_a_request_are_recorded_as_system(analyst: Any) -> None:
    analyst.is_superuser = True
    analyst.save()
    Group.objects.get(name="admin").user_set.add(analyst)  # from the group's side
    privileges = _only("user.privileges_changed")
    assert privileges.actor_name == "system"
    assert privileges.details == {"username": "alice", "is_superuser": {"from": False, "to": True}}
    added = AuditEvent.objects.filter(action="user.roles_changed").latest("id")
    assert added.details == {"username": "alice", "added": ["admin"]}
    analyst.groups.clear()
    cleared = AuditEvent.objects.filter(action="user.roles_changed").latest("id")
    assert cleared.details == {"username": "alice", "removed": ["admin", "analyst"]}


def test_auth_events_keep_the_chain_intact(analyst: Any) -> None:
    client = _client()
    client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    client.post(reverse("logout"))
    call_command("verify_audit")


def test_the_audit_page_and_api_filter_auth_events(manager: Any, analyst: Any) -> None:
    _client().post(reverse("login"), {"username": "alice", "password": "wrong"})
    client = client_for(manager)  # signing in with force_login is audited as well
    page = client.get(reverse("audit_log"), {"action": "auth."})
    assert b"auth.login_failed" in page.content and b"auth.login" in page.content
    assert b"user.created" not in page.content
    assert BROWSER.encode() in page.content
    body = client.get("/api/v1/audit-events/", {"action": "auth.login_failed"}).json()
    assert body["count"] == 1
    row = body["results"][0]
    assert row["client_ip"] == ADDRESS and row["user_agent"] == BROWSER
    assert row["actor_name"] == "anonymous" and row["details"] == {"username": "alice"}


def test_a_deleted_users_changes_keep_their_name_in_the_timeline(
    investigation: Any, teammate: Any
) -> None:
    from investigations.timeline import investigation_timeline
    from portal import audit

    audit.record(
        actor=teammate,
        action="investigation.status_changed",
        target=investigation,
        details={"from": "open", "to": "closed"},
    )
    get_user_model().objects.filter(pk=teammate.pk).delete()
    entry = next(e for e in investigation_timeline(investigation).entries if e.kind == "status")
    assert entry.actor == "bob"
    call_command("verify_audit")


def test_a_partial_save_records_only_what_it_writes(analyst: Any) -> None:
    analyst.is_active = False  # changed in memory only: this save does not write it
    analyst.save(update_fields=["last_login"])
    assert not AuditEvent.objects.filter(action="user.deactivated").exists()
    analyst.save(update_fields=["is_active"])
    assert _only("user.deactivated").details == {"username": "alice"}
