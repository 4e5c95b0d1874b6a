"""The accounts API: reads for every role, test-connection and refresh for admins only."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import AwsAccount, Instance
from portal.models import AuditEvent
from tests.accounts.conftest import REGION, build_world
from tests.conftest import api_token, client_for


def _token(user: Any, scopes: str) -> str:
    return api_token(user, scopes, f"t-{scopes}")


@pytest.mark.django_db
def test_every_role_lists_and_reads_accounts(
    analyst: Any, manager: Any, admin_user: Any, aws_account: AwsAccount
) -> None:
    for user in (analyst, manager, admin_user):
        client = client_for(user)
        listing = client.get("/api/v1/accounts/").json()
        assert [a["name"] for a in listing["results"]] == ["Production"]
        assert listing["results"][0]["external_id"] == aws_account.external_id
        detail = client.get(f"/api/v1/accounts/{aws_account.pk}/").json()
        assert detail["regions"] == [REGION] and detail["instances"] == []
    assert Client().get("/api/v1/accounts/").status_code == 401
    assert client_for(analyst).get("/api/v1/accounts/999999/").status_code == 404


@pytest.mark.django_db
def test_tokens_read_with_the_read_scope_and_never_change(
    admin_user: Any, analyst: Any, aws_account: AwsAccount
) -> None:
    key = _token(admin_user, "read:investigations")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/v1/accounts/").status_code == 200
    response = client.post(f"/api/v1/accounts/{aws_account.pk}/refresh/")
    assert response.status_code == 403 and "scope" in response.json()["detail"]
    other = Client(HTTP_AUTHORIZATION=f"Bearer {_token(analyst, 'read:findings')}")
    assert other.get("/api/v1/accounts/").status_code == 403


@pytest.mark.django_db
def test_only_admins_test_and_refresh(
    moto: None, analyst: Any, manager: Any, admin_user: Any, aws_account: AwsAccount
) -> None:
    world = build_world()
    for user in (analyst, manager):
        client = client_for(user)
        assert client.post(f"/api/v1/accounts/{aws_account.pk}/refresh/").status_code == 403
        assert client.post(f"/api/v1/accounts/{aws_account.pk}/test-connection/").status_code == 403
    assert Client().post(f"/api/v1/accounts/{aws_account.pk}/refresh/").status_code == 401
    assert not AuditEvent.objects.filter(action__startswith="aws_account.").exists()
    assert not Instance.objects.exists()

    admin = client_for(admin_user)
    refreshed = admin.post(f"/api/v1/accounts/{aws_account.pk}/refresh/").json()
    assert refreshed["ok"] is True
    assert refreshed["regions"][REGION] == {
        "status": "ok",
        "error": "",
        "instances": 2,
        "vpcs": 2,
        "flow_logs": 3,
    }
    tested = admin.post(f"/api/v1/accounts/{aws_account.pk}/test-connection/").json()
    assert tested["ok"] is True
    assert tested["identity"]["Arn"].endswith(":assumed-role/FlowLogPortalReader/portal-root")
    assert admin.post("/api/v1/accounts/999999/refresh/").status_code == 404
    event = AuditEvent.objects.filter(action="aws_account.connection_tested").get()
    assert event.actor == admin_user and event.client_ip == "127.0.0.1"

    detail = client_for(analyst).get(f"/api/v1/accounts/{aws_account.pk}/").json()
    web = next(i for i in detail["instances"] if i["instance_id"] == world["web"])
    assert web["interfaces"] == [world["web_eni"], world["second_eni"]]
    assert detail["last_test_ok"] is True
    assert detail["discoveries"][0]["instance_count"] == 2
    assert {f["flow_log_id"] for f in detail["flow_logs"]} == {
        world["vpc_flow"],
        world["subnet_flow"],
        world["eni_flow"],
    }


@pytest.mark.django_db
def test_the_api_instance_search_matches_the_page(
    moto: None, analyst: Any, admin_user: Any, aws_account: AwsAccount
) -> None:
    world = build_world()
    client_for(admin_user).post(f"/api/v1/accounts/{aws_account.pk}/refresh/")
    client = client_for(analyst)
    api = client.get(f"/api/v1/accounts/{aws_account.pk}/instances/search/?q=10.1.3.30").json()
    page = client.get(f"/aws/{aws_account.pk}/instances/search/?q=10.1.3.30").json()
    assert api == page
    assert [r["instance_id"] for r in api["results"]] == [world["db"]]
    assert api["results"][0]["flow_log"]["flow_log_id"] == world["subnet_flow"]
    key = _token(analyst, "read:investigations")
    with_token = Client(HTTP_AUTHORIZATION=f"Bearer {key}").get(
        f"/api/v1/accounts/{aws_account.pk}/instances/search/?q=10.0.1.77"
    )
    assert [r["name"] for r in with_token.json()["results"]] == ["web"]
