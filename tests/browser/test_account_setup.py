"""An admin copies the role's CloudFormation and Terraform from the account page in a real
browser: the copy buttons put exactly the shown text on the clipboard, under the page's CSP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


def test_an_admin_copies_the_templates(
    live_server: Any, page: Any, admin_user: Any, settings: Any
) -> None:
    from accounts.models import AwsAccount

    settings.PORTAL_AWS_PRINCIPAL_ARN = "arn:aws:iam::999988887777:role/flowlog-portal"
    account = AwsAccount.objects.create(
        name="Production",
        account_id="123456789012",
        role_arn="arn:aws:iam::123456789012:role/FlowLogPortalReader",
        regions=["eu-west-1"],
    )
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(f"{live_server.url}/auth/login/")
    page.get_by_label("Username").fill(admin_user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/aws/{account.pk}/")

    for block in ("setup-cloudformation", "setup-terraform", "trust-policy"):
        button = page.locator(f'button[data-copy="{block}"]')
        button.click()
        page.wait_for_function(
            'name => document.querySelector(`button[data-copy="${name}"]`).textContent'
            " === 'Copied'",
            arg=block,
        )
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == page.locator(f"#{block}").text_content()
    template = yaml.safe_load(page.locator("#setup-cloudformation").text_content() or "")
    statement = template["Resources"]["FlowLogPortalRole"]["Properties"][
        "AssumeRolePolicyDocument"
    ]["Statement"][0]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::999988887777:role/flowlog-portal"}
    assert statement["Condition"]["StringEquals"]["sts:ExternalId"] == account.external_id
    assert page.locator("#copy-status").text_content() == "Copied"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#policies").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "account-setup.png"))
    assert errors == []
