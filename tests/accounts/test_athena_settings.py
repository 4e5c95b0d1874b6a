"""Athena settings of an AWS account: the form, its checks, the page, the API and the policy."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from accounts.models import AwsAccount
from accounts.services import create_account, update_account
from portal.models import AuditEvent
from tests.accounts.test_pages import VALID, _code_block
from tests.conftest import client_for

ATHENA = {
    "athena_enabled": "on",
    "athena_workgroup": "soc-analysis",
    "athena_output_location": "s3://athena-results-111/flowlog-portal/",
    "athena_database": "flowlog_portal",
    "athena_scan_limit_bytes": "100000000000",
}


def field_errors(response: Any) -> dict[str, str]:
    page = html.unescape(response.content.decode())
    return {
        m.group(1): m.group(2)
        for m in re.finditer(
            r'<div class="field has-error" data-field="(\w+)">.*?<p class="error" role="alert">'
            r"(.*?)</p>",
            page,
            re.S,
        )
    }


@pytest.mark.django_db
def test_admins_enable_athena_and_the_page_and_policy_show_it(admin_user: Any) -> None:
    client = client_for(admin_user)
    response = client.post("/aws/new/", {**VALID, **ATHENA})
    assert response.status_code == 302
    account = AwsAccount.objects.get(name="Staging")
    assert account.athena_settings == {
        "enabled": True,
        "workgroup": "soc-analysis",
        "output_location": "s3://athena-results-111/flowlog-portal/",
        "database": "flowlog_portal",
        "scan_limit_bytes": 100_000_000_000,
    }
    created = AuditEvent.objects.get(action="aws_account.created")
    assert created.details["athena_enabled"] is True
    assert created.details["athena_scan_limit_bytes"] == 100_000_000_000

    page = client.get(f"/aws/{account.pk}/").content.decode()
    settings = re.search(r'<dd id="athena-settings">(.*?)</dd>', page, re.S)
    assert settings is not None
    text = html.unescape(re.sub(r"<[^>]+>", "", settings.group(1)))
    assert "workgroup soc-analysis" in text and "database flowlog_portal" in text
    assert "s3://athena-results-111/flowlog-portal/" in text and "100000000000 bytes" in text

    statements = {s["Sid"]: s for s in _code_block(page, "permission-policy")["Statement"]}
    assert statements["RunAthenaQueries"]["Resource"] == [
        f"arn:aws:athena:{region}:{account.account_id}:workgroup/soc-analysis"
        for region in ("eu-west-1", "us-east-1")
    ]
    assert "athena:StopQueryExecution" in statements["RunAthenaQueries"]["Action"]
    glue = statements["FlowLogTablesInGlue"]["Resource"]
    assert f"arn:aws:glue:eu-west-1:{account.account_id}:table/flowlog_portal/*" in glue
    assert statements["AthenaQueryResults"]["Resource"] == (
        "arn:aws:s3:::athena-results-111/flowlog-portal/*"
    )


@pytest.mark.django_db
def test_accounts_without_athena_keep_the_smaller_policy(
    admin_user: Any, aws_account: AwsAccount
) -> None:
    page = client_for(admin_user).get(f"/aws/{aws_account.pk}/").content.decode()
    sids = {s["Sid"] for s in _code_block(page, "permission-policy")["Statement"]}
    assert not {sid for sid in sids if "Athena" in sid or "Glue" in sid}
    assert "not used: runs download the flow logs they read" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"athena_workgroup": "soc analysis!"}, "athena_workgroup", "An Athena workgroup name"),
        ({"athena_database": "Flow-Logs"}, "athena_database", "lowercase letters, digits"),
        ({"athena_database": ""}, "athena_database", "Athena needs a database"),
        ({"athena_output_location": "https://bucket/x"}, "athena_output_location",
         "s3://bucket-name/athena-results/"),
        ({"athena_scan_limit_bytes": "5000"}, "athena_scan_limit_bytes", "at least 10 MB"),
        ({"athena_scan_limit_bytes": ""}, "athena_scan_limit_bytes", "Set a scan limit per run"),
        ({"athena_scan_limit_bytes": "-1"}, "athena_scan_limit_bytes", "greater than or equal"),
    ],
)  # fmt: skip
def test_bad_athena_settings_are_refused_next_to_their_field(
    admin_user: Any, changes: dict[str, str], field: str, message: str
) -> None:
    response = client_for(admin_user).post("/aws/new/", {**VALID, **ATHENA, **changes})
    assert response.status_code == 400
    errors = field_errors(response)
    assert message in errors[field], errors
    assert not AwsAccount.objects.exists()


@pytest.mark.django_db
def test_settings_are_free_while_athena_is_off(admin_user: Any) -> None:
    response = client_for(admin_user).post(
        "/aws/new/", {**VALID, "athena_database": "", "athena_scan_limit_bytes": ""}
    )
    assert response.status_code == 302
    assert AwsAccount.objects.get().athena_enabled is False


@pytest.mark.django_db
def test_the_service_changes_and_audits_athena_settings(
    admin_user: Any, aws_account: AwsAccount
) -> None:
    update_account(
        user=admin_user,
        account=aws_account,
        athena_enabled=True,
        athena_scan_limit_bytes=20_000_000,
    )
    aws_account.refresh_from_db()
    assert aws_account.athena_enabled and aws_account.athena_workgroup == "primary"
    changed = AuditEvent.objects.get(action="aws_account.updated").details["changed"]
    assert changed == {
        "athena_enabled": {"from": False, "to": True},
        "athena_scan_limit_bytes": {"from": None, "to": 20_000_000},
    }
    with pytest.raises(TypeError, match="athena_region"):
        create_account(
            user=admin_user,
            name="x",
            account_id="123456789012",
            role_arn="arn:aws:iam::123456789012:role/x",
            regions=["eu-west-1"],
            athena_region="eu-west-1",
        )


@pytest.mark.django_db
def test_the_api_shows_the_athena_settings(analyst: Any, aws_account: AwsAccount) -> None:
    AwsAccount.objects.filter(pk=aws_account.pk).update(
        athena_enabled=True, athena_scan_limit_bytes=10**11, athena_workgroup="soc"
    )
    data = client_for(analyst).get(f"/api/v1/accounts/{aws_account.pk}/").json()
    assert {key: value for key, value in data.items() if key.startswith("athena_")} == {
        "athena_enabled": True,
        "athena_workgroup": "soc",
        "athena_output_location": "",
        "athena_database": "flowlog_portal",
        "athena_scan_limit_bytes": 10**11,
    }
