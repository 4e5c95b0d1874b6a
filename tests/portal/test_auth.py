"""Login, logout, password change, roles and the create_user command."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from portal.models import AuditEvent
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_roles_exist_after_migrations() -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= {"analyst", "manager", "admin"}


@pytest.mark.parametrize("url", ["/", "/investigations/", "/investigations/1/", "/auth/password/"])
def test_anonymous_users_are_sent_to_login(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_page_and_health_are_public(client: Client) -> None:
    assert client.get(reverse("login")).status_code == 200
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}


def test_an_analyst_logs_in_and_lands_on_investigations(client: Client, analyst: Any) -> None:
    response = client.post(
        reverse("login"), {"username": "alice", "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("investigations:list")
    assert b"Investigations" in response.content
    assert b"alice" in response.content


def test_a_wrong_password_is_refused(client: Client, analyst: Any) -> None:
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert b"didn't match" in response.content
    assert "_auth_user_id" not in client.session


def test_logout_ends_the_session(client: Client, analyst: Any) -> None:
    client.force_login(analyst)
    client.post(reverse("logout"))
    assert client.get(reverse("investigations:list")).status_code == 302


def test_password_change(client: Client, analyst: Any) -> None:
    client.force_login(analyst)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-much-better-secret-42",
            "new_password2": "a-much-better-secret-42",
        },
    )
    assert response.status_code == 302
    analyst.refresh_from_db()
    assert analyst.check_password("a-much-better-secret-42")


def test_create_user_command_gives_the_role_and_audits_it() -> None:
    call_command("create_user", "carol", "--role", "manager", "--password", "s3cure-enough-pass!")
    carol = get_user_model().objects.get(username="carol")
    assert list(carol.groups.values_list("name", flat=True)) == ["manager"]
    assert carol.check_password("s3cure-enough-pass!")
    event = AuditEvent.objects.get(action="user.provisioned")
    assert event.details["roles"] == ["manager"] and event.details["created"] is True
    created = AuditEvent.objects.get(action="user.created")
    assert created.actor_name == "system" and created.target_id == str(carol.pk)
    roles = AuditEvent.objects.get(action="user.roles_changed")
    assert roles.details == {"username": "carol", "added": ["manager"]}


def test_create_user_command_rejects_a_weak_password() -> None:
    with pytest.raises(CommandError, match=r"too short|too common"):
        call_command("create_user", "dave", "--role", "analyst", "--password", "abc")
    assert not get_user_model().objects.filter(username="dave").exists()
