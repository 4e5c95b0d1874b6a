"""The policies shown on the account page: least privilege, scoped to what discovery found."""

from __future__ import annotations

from typing import Any

from accounts.conf import PRINCIPAL_PLACEHOLDER
from accounts.policies import permission_policy, trust_policy


def _statements(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in policy["Statement"]}


def test_the_trust_policy_needs_the_external_id_and_names_the_portal(settings: Any) -> None:
    settings.PORTAL_AWS_PRINCIPAL_ARN = ""
    (statement,) = trust_policy(external_id="flp-abc")["Statement"]
    assert statement["Principal"] == {"AWS": PRINCIPAL_PLACEHOLDER}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "flp-abc"}}
    settings.PORTAL_AWS_PRINCIPAL_ARN = "arn:aws:iam::999988887777:role/portal"
    (statement,) = trust_policy(external_id="flp-abc")["Statement"]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::999988887777:role/portal"}


def test_the_permission_policy_reads_only_the_flow_log_destinations() -> None:
    policy = permission_policy(
        account_id="123456789012",
        regions=["eu-west-1", "us-east-1"],
        log_groups=[("eu-west-1", "/vpc/flow")],
        s3_locations=[("corp-logs", "network/"), ("other-logs", "")],
    )
    s = _statements(policy)
    assert s["DiscoverInstancesNetworksAndFlowLogs"]["Action"] == [
        "ec2:DescribeInstances",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeVpcs",
        "ec2:DescribeSubnets",
        "ec2:DescribeFlowLogs",
    ]
    assert s["ReadFlowLogGroups"]["Resource"] == [
        "arn:aws:logs:eu-west-1:123456789012:log-group:/vpc/flow",
        "arn:aws:logs:eu-west-1:123456789012:log-group:/vpc/flow:*",
    ]
    # Only what the CloudWatch source and the connection test call: no Logs Insights.
    assert set(s["ReadFlowLogGroups"]["Action"]) == {
        "logs:DescribeLogStreams",
        "logs:FilterLogEvents",
    }
    assert s["ListFlowLogPrefix1"] == {
        "Sid": "ListFlowLogPrefix1",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": "arn:aws:s3:::corp-logs",
        "Condition": {"StringLike": {"s3:prefix": ["network/AWSLogs/*"]}},
    }
    assert s["ReadFlowLogObjects1"]["Resource"] == "arn:aws:s3:::corp-logs/network/AWSLogs/*"
    assert s["ReadFlowLogObjects2"]["Resource"] == "arn:aws:s3:::other-logs/AWSLogs/*"
    assert s["DecryptFlowLogObjectsThroughS3"]["Condition"] == {
        "StringEquals": {
            "kms:ViaService": ["s3.eu-west-1.amazonaws.com", "s3.us-east-1.amazonaws.com"]
        }
    }
    every_action = {a for st in policy["Statement"] for a in st["Action"]}
    assert not any(
        a.endswith("*") or a.split(":")[1].startswith(("Put", "Delete", "Create"))
        for a in every_action
    )


def test_without_s3_destinations_there_is_no_s3_or_kms_statement() -> None:
    policy = permission_policy(account_id="123456789012", regions=["eu-west-1"])
    s = _statements(policy)
    assert not any(sid.startswith(("ListFlowLog", "ReadFlowLogObjects", "Decrypt")) for sid in s)
    assert s["ReadFlowLogGroups"]["Resource"][0] == (
        "arn:aws:logs:eu-west-1:123456789012:log-group:<flow-log-group-name>"
    )
