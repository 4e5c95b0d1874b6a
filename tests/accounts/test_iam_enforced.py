"""With moto enforcing IAM: the trust policy's external ID and a missing permission.

moto checks signatures, identity policies of users and assumed roles, and the role's trust
policy (principal and the `sts:ExternalId` condition) once IAM authentication is enabled.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.core import enable_iam_authentication

from accounts import services
from accounts.models import AwsAccount
from portal.models import AuditEvent
from tests.accounts.conftest import ACCOUNT, REGION, ROLE_ARN, build_world, client, create_role

# What the role may do here: everything the portal needs except CloudWatch Logs.
# (No s3:prefix condition: moto evaluates conditions only for the external ID.)
NO_LOGS_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": "arn:aws:s3:::flow-bucket"},
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": "arn:aws:s3:::flow-bucket/AWSLogs/*",
        },
    ],
}


@pytest.fixture
def portal_identity(moto: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """An IAM user standing for the portal, allowed only sts:AssumeRole; its keys become the
    portal's default credentials."""
    iam = client("iam")
    user_arn = iam.create_user(UserName="flowlog-portal")["User"]["Arn"]
    iam.put_user_policy(
        UserName="flowlog-portal",
        PolicyName="assume",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ROLE_ARN}
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName="flowlog-portal")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    return str(user_arn)


@pytest.mark.django_db
def test_a_missing_permission_is_reported_with_the_aws_error(
    portal_identity: str, admin_user: Any, aws_account: AwsAccount
) -> None:
    build_world()
    create_role(aws_account, principal_arn=portal_identity, policy=NO_LOGS_POLICY)
    with enable_iam_authentication():
        result = services.run_connection_test(user=admin_user, account=aws_account)
    assert result["identity"]["Arn"] == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/FlowLogPortalReader/portal-root"
    )
    outcome = {(c["check"], c["target"]): (c["ok"], c["code"]) for c in result["checks"]}
    assert outcome[("sts:AssumeRole", ROLE_ARN)] == (True, "")
    assert outcome[("ec2:DescribeInstances", "")] == (True, "")
    assert outcome[("ec2:DescribeFlowLogs", "")] == (True, "")
    assert outcome[("s3:ListBucket", "s3://flow-bucket/AWSLogs/")] == (True, "")
    # Real AWS says AccessDeniedException; moto says AccessDenied (in an XML body, which
    # AwsError reads when botocore could not).
    assert outcome[("logs:DescribeLogGroups", "")] == (False, "AccessDenied")
    assert outcome[("logs:DescribeLogStreams", "/flow/subnets")] == (False, "AccessDenied")
    assert outcome[("logs:FilterLogEvents", "/flow/web-eni")] == (False, "AccessDenied")
    denied = next(c for c in result["checks"] if c["check"] == "logs:DescribeLogGroups")
    assert denied["message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/FlowLogPortalReader/portal-root is not "
        "authorized to perform: logs:DescribeLogGroups"
    )
    assert result["ok"] is False
    aws_account.refresh_from_db()
    assert aws_account.last_test_ok is False
    event = AuditEvent.objects.get(action="aws_account.connection_tested")
    assert f"logs:DescribeLogGroups {REGION}" in event.details["failed"]


@pytest.mark.django_db
def test_the_role_refuses_a_wrong_external_id(
    portal_identity: str, admin_user: Any, aws_account: AwsAccount
) -> None:
    create_role(aws_account, principal_arn=portal_identity, policy=NO_LOGS_POLICY)
    with enable_iam_authentication():
        assert (
            services.run_connection_test(user=admin_user, account=aws_account)["checks"][0]["ok"]
            is True
        )
    # The same role, but the portal's record holds another external ID.
    AwsAccount.objects.filter(pk=aws_account.pk).update(external_id="flp-not-the-right-one")
    aws_account.refresh_from_db()
    with enable_iam_authentication():
        result = services.run_connection_test(user=admin_user, account=aws_account)
    assert result["ok"] is False and result["identity"] is None
    assert result["error"]["code"] == "AccessDenied"
    assert [c["check"] for c in result["checks"]] == ["sts:AssumeRole"]
    failed = AuditEvent.objects.filter(action="aws_account.role_assumed").order_by("id").last()
    assert failed is not None
    assert failed.details["ok"] is False and failed.details["code"] == "AccessDenied"


@pytest.mark.django_db
def test_the_role_refuses_another_principal(
    portal_identity: str, admin_user: Any, aws_account: AwsAccount
) -> None:
    create_role(
        aws_account,
        principal_arn=f"arn:aws:iam::{ACCOUNT}:user/someone-else",
        policy=NO_LOGS_POLICY,
    )
    with enable_iam_authentication():
        result = services.run_connection_test(user=admin_user, account=aws_account)
    assert result["error"]["code"] == "AccessDenied"
