"""Account pages: who may see and do what, form errors next to fields, policies, the picker."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from django.test import Client

from accounts.models import AwsAccount, Instance
from portal.models import AuditEvent
from tests.accounts.conftest import ACCOUNT, REGION, ROLE_ARN, build_world
from tests.conftest import client_for


def _code_block(page: str, element_id: str) -> Any:
    """The JSON inside <code id=...> on a page, as a paste into the AWS console would see it."""
    match = re.search(rf'<code id="{element_id}">(.*?)</code>', page, re.S)
    assert match is not None, element_id
    return json.loads(html.unescape(match.group(1)))


VALID = {
    "name": "Staging",
    "account_id": ACCOUNT,
    "role_arn": ROLE_ARN,
    "regions": "eu-west-1, us-east-1",
    "notes": "the staging estate",
}


@pytest.mark.django_db
def test_every_role_reads_accounts_and_anonymous_is_sent_to_login(
    analyst: Any, manager: Any, admin_user: Any, aws_account: AwsAccount
) -> None:
    for user in (analyst, manager, admin_user):
        client = client_for(user)
        listing = client.get("/aws/")
        assert listing.status_code == 200 and b"Production" in listing.content
        assert b'aria-current="page">AWS accounts' in listing.content
        assert client.get(f"/aws/{aws_account.pk}/").status_code == 200
    anonymous = Client()
    for url in (
        "/aws/",
        f"/aws/{aws_account.pk}/",
        "/aws/new/",
        f"/aws/{aws_account.pk}/instances/search/?q=web",
    ):
        response = anonymous.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/auth/login/")
    response = anonymous.post(f"/aws/{aws_account.pk}/refresh/")
    assert response.status_code == 302 and response["Location"].startswith("/auth/login/")


@pytest.mark.django_db
def test_only_admins_see_the_buttons_and_may_change_test_or_refresh(
    analyst: Any, manager: Any, admin_user: Any, aws_account: AwsAccount
) -> None:
    pk = aws_account.pk
    for user in (analyst, manager):
        client = client_for(user)
        page = client.get(f"/aws/{pk}/").content.decode()
        assert f'action="/aws/{pk}/test-connection/"' not in page
        assert f'action="/aws/{pk}/refresh/"' not in page and f"/aws/{pk}/edit/" not in page
        assert "Register account" not in client.get("/aws/").content.decode()
        assert client.get("/aws/new/").status_code == 403
        assert client.post("/aws/new/", VALID).status_code == 403
        assert client.get(f"/aws/{pk}/edit/").status_code == 403
        assert client.post(f"/aws/{pk}/edit/", VALID).status_code == 403
        assert client.post(f"/aws/{pk}/delete/").status_code == 403
        assert client.post(f"/aws/{pk}/test-connection/").status_code == 403
        assert client.post(f"/aws/{pk}/refresh/").status_code == 403
    assert AwsAccount.objects.get(pk=pk).name == "Production"
    assert not AuditEvent.objects.filter(action__startswith="aws_account.").exists()
    admin_page = client_for(admin_user).get(f"/aws/{pk}/").content.decode()
    assert f'action="/aws/{pk}/test-connection/"' in admin_page
    assert f'action="/aws/{pk}/refresh/"' in admin_page and f"/aws/{pk}/edit/" in admin_page
    assert client_for(admin_user).get(f"/aws/{pk}/test-connection/").status_code == 405
    assert client_for(admin_user).get("/aws/999999/").status_code == 404


@pytest.mark.django_db
def test_a_user_without_a_portal_role_sees_nothing(aws_account: AwsAccount) -> None:
    from tests.factories import UserFactory

    nobody = UserFactory(username="norole")
    client = client_for(nobody)
    assert b"Production" not in client.get("/aws/").content
    assert client.get(f"/aws/{aws_account.pk}/").status_code == 404


@pytest.mark.django_db
def test_admins_register_an_account_and_see_its_external_id_and_policies(
    admin_user: Any, settings: Any
) -> None:
    settings.PORTAL_AWS_PRINCIPAL_ARN = "arn:aws:iam::999988887777:role/flowlog-portal"
    client = client_for(admin_user)
    assert client.get("/aws/new/").status_code == 200
    response = client.post("/aws/new/", VALID)
    account = AwsAccount.objects.get(name="Staging")
    assert response.status_code == 302 and response["Location"] == f"/aws/{account.pk}/"
    assert account.regions == ["eu-west-1", "us-east-1"]
    assert AuditEvent.objects.get(action="aws_account.created").actor == admin_user

    page = client.get(f"/aws/{account.pk}/").content.decode()
    assert account.external_id in page
    trust = _code_block(page, "trust-policy")
    statement = trust["Statement"][0]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::999988887777:role/flowlog-portal"}
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": account.external_id}}
    permissions = _code_block(page, "permission-policy")
    actions = {a for s in permissions["Statement"] for a in s["Action"]}
    assert {"ec2:DescribeInstances", "ec2:DescribeFlowLogs", "logs:FilterLogEvents"} <= actions
    assert "placeholders" in page  # nothing discovered yet


@pytest.mark.django_db
def test_validation_errors_show_next_to_their_fields(
    admin_user: Any, aws_account: AwsAccount
) -> None:
    client = client_for(admin_user)
    response = client.post(
        "/aws/new/",
        {
            "name": "Production",
            "account_id": "12-34",
            "role_arn": "arn:aws:iam::111122223333:role/x",
            "regions": "eu-west-1, mars-north-1",
            "notes": "",
        },
    )
    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    fields = {
        m.group(1): m.group(2)
        for m in re.finditer(
            r'<label for="id_(\w+)">.*?</label>.*?<p class="error" role="alert">(.*?)</p>',
            page,
            re.S,
        )
    }
    assert fields["name"] == "AWS account with this Name already exists."
    assert fields["account_id"].startswith("An AWS account ID is exactly 12 digits")
    assert fields["regions"] == (
        "Unknown region: mars-north-1. Region names look like eu-west-1 or us-east-2."
    )
    # The ARN is well-formed; that it names another account is checked once the id is valid.
    response = client.post("/aws/new/", {**VALID, "role_arn": "arn:aws:iam::111122223333:role/x"})
    assert response.status_code == 400
    assert "The role belongs to account 111122223333, not to 123456789012" in html.unescape(
        response.content.decode()
    )
    assert AwsAccount.objects.count() == 1


@pytest.mark.django_db
def test_admins_edit_and_remove_accounts(admin_user: Any, aws_account: AwsAccount) -> None:
    client = client_for(admin_user)
    external_id = aws_account.external_id
    edit = client.get(f"/aws/{aws_account.pk}/edit/")
    assert 'value="eu-west-1"' in edit.content.decode()
    response = client.post(f"/aws/{aws_account.pk}/edit/", {**VALID, "name": "Production"})
    assert response.status_code == 302
    aws_account.refresh_from_db()
    assert aws_account.regions == ["eu-west-1", "us-east-1"]
    assert aws_account.external_id == external_id  # not editable
    bad = client.post(f"/aws/{aws_account.pk}/edit/", {**VALID, "regions": ""})
    assert bad.status_code == 400 and b"This field is required." in bad.content
    assert client.get(f"/aws/{aws_account.pk}/delete/").status_code == 200
    assert client.post(f"/aws/{aws_account.pk}/delete/").status_code == 302
    assert not AwsAccount.objects.exists()
    assert list(
        AuditEvent.objects.filter(action__startswith="aws_account.")
        .order_by("id")
        .values_list("action", flat=True)
    ) == [
        "aws_account.updated",
        "aws_account.deleted",
    ]


@pytest.mark.django_db
def test_test_connection_and_refresh_buttons_run_and_show_their_results(
    moto: None, admin_user: Any, aws_account: AwsAccount
) -> None:
    world = build_world()
    client = client_for(admin_user)
    response = client.post(f"/aws/{aws_account.pk}/refresh/", follow=True)
    page = response.content.decode()
    assert "Discovery refreshed. eu-west-1: 2 instances, 2 VPCs, 3 flow logs." in page
    assert world["web"] in page and "10.0.1.10, 10.0.1.11, 10.0.1.77" in page
    assert "10.0.0.0/16, 10.1.0.0/16" in page and "/flow/subnets" in page
    assert "s3://flow-bucket/" in page
    assert "arn:aws:logs:eu-west-1:123456789012:log-group:/flow/subnets" in page
    assert "kms:ViaService" in page

    response = client.post(f"/aws/{aws_account.pk}/test-connection/", follow=True)
    page = response.content.decode()
    assert "Connection works: all" in page
    assert "assumed-role/FlowLogPortalReader/portal-root" in page
    assert "logs:DescribeLogStreams" in page


@pytest.mark.django_db
def test_the_instance_picker_returns_resolved_matches(
    moto: None, admin_user: Any, analyst: Any, manager: Any, aws_account: AwsAccount
) -> None:
    world = build_world()
    client_for(admin_user).post(f"/aws/{aws_account.pk}/refresh/")
    for user in (analyst, manager):
        body = client_for(user).get(f"/aws/{aws_account.pk}/instances/search/?q=we").json()
        assert body["count"] == 1 and body["truncated"] is False
        (web,) = body["results"]
        assert web["instance_id"] == world["web"] and web["region"] == REGION
        assert web["flow_log"]["flow_log_id"] == world["eni_flow"]
        assert web["vpc_cidrs"][:2] == ["10.0.0.0/16", "10.1.0.0/16"]
    everything = client_for(analyst).get(f"/aws/{aws_account.pk}/instances/search/").json()
    assert everything["count"] == Instance.objects.filter(account=aws_account).count() == 2
    assert client_for(analyst).get("/aws/999999/instances/search/?q=web").status_code == 404


@pytest.mark.django_db
def test_a_long_instance_list_says_it_is_cut(analyst: Any, aws_account: AwsAccount) -> None:
    from django.utils import timezone

    now = timezone.now()
    Instance.objects.bulk_create(
        Instance(account=aws_account, region=REGION, refreshed_at=now, instance_id=f"i-{n:05d}")
        for n in range(205)
    )
    page = client_for(analyst).get(f"/aws/{aws_account.pk}/").content.decode()
    assert "Showing the first 200 of 205 instances" in page
    assert "i-00199" in page and "i-00200" not in page
