"""The IAM policies a customer attaches to the portal's role: least privilege, ready to paste."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from accounts.choices import FlowLogDestination
from accounts.conf import portal_principal_arn

LOG_GROUP_PLACEHOLDER = "<flow-log-group-name>"
BUCKET_PLACEHOLDER = "<flow-log-bucket>"
ATHENA_RESULTS_PLACEHOLDER = "<athena-results-bucket>"


def trust_policy(*, external_id: str, principal_arn: str | None = None) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "FlowLogPortalAssumeRole",
                "Effect": "Allow",
                "Principal": {"AWS": principal_arn or portal_principal_arn()},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


def permission_policy(
    *,
    account_id: str,
    regions: Iterable[str],
    log_groups: Iterable[tuple[str, str]] = (),
    s3_locations: Iterable[tuple[str, str]] = (),
    athena: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`log_groups` are (region, name); `s3_locations` (bucket, prefix). Without discovered
    destinations the statements carry placeholders to replace by hand. `athena` (the
    account's athena_settings, when enabled) adds what Athena pushdown needs."""
    regions = sorted(set(regions)) or ["<region>"]
    groups = sorted(set(log_groups)) or [(region, LOG_GROUP_PLACEHOLDER) for region in regions]
    locations = sorted(set(s3_locations))
    group_arns: list[str] = []
    for region, name in groups:
        base = f"arn:aws:logs:{region}:{account_id}:log-group:{name}"
        group_arns += [base, f"{base}:*"]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "DiscoverInstancesNetworksAndFlowLogs",
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeInstances",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeVpcs",
                "ec2:DescribeSubnets",
                "ec2:DescribeFlowLogs",
            ],
            # EC2 Describe* actions support no resource-level restriction.
            "Resource": "*",
        },
        {
            "Sid": "ListLogGroups",
            "Effect": "Allow",
            "Action": ["logs:DescribeLogGroups"],
            "Resource": [f"arn:aws:logs:{region}:{account_id}:log-group:*" for region in regions],
        },
        {
            "Sid": "ReadFlowLogGroups",
            "Effect": "Allow",
            # What the CloudWatch source calls: streams of the instance's interfaces, then
            # FilterLogEvents over them.
            "Action": ["logs:DescribeLogStreams", "logs:FilterLogEvents"],
            "Resource": group_arns,
        },
    ]
    if locations:
        for index, (bucket, prefix) in enumerate(locations, start=1):
            statements.append(
                {
                    "Sid": f"ListFlowLogPrefix{index}",
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket"],
                    "Resource": f"arn:aws:s3:::{bucket}",
                    "Condition": {"StringLike": {"s3:prefix": [f"{prefix}AWSLogs/*"]}},
                }
            )
            statements.append(
                {
                    "Sid": f"ReadFlowLogObjects{index}",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject"],
                    "Resource": f"arn:aws:s3:::{bucket}/{prefix}AWSLogs/*",
                }
            )
        statements.append(
            {
                "Sid": "DecryptFlowLogObjectsThroughS3",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": "*",
                # Only when S3 decrypts SSE-KMS objects on the portal's behalf.
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": [f"s3.{region}.amazonaws.com" for region in regions]
                    }
                },
            }
        )
    if athena is not None:
        statements += athena_statements(account_id, regions, locations, athena)
    return {"Version": "2012-10-17", "Statement": statements}


def athena_statements(
    account_id: str,
    regions: list[str],
    locations: list[tuple[str, str]],
    athena: dict[str, Any],
) -> list[dict[str, Any]]:
    """Queries in one workgroup; the portal's tables in one Glue database; query results
    under the output location. Athena reads the flow logs with the role's own S3 rights."""
    workgroup = athena.get("workgroup") or "primary"
    database = athena.get("database") or "<athena-database>"
    output = str(athena.get("output_location") or "")
    bucket, _, prefix = output.removeprefix("s3://").partition("/")
    if not bucket:
        bucket, prefix = ATHENA_RESULTS_PLACEHOLDER, ""
    results = f"arn:aws:s3:::{bucket}/{prefix.rstrip('/') + '/' if prefix.strip('/') else ''}*"
    buckets = sorted({bucket, *(name for name, _ in locations)})
    return [
        {
            "Sid": "RunAthenaQueries",
            "Effect": "Allow",
            "Action": [
                "athena:StartQueryExecution",
                "athena:GetQueryExecution",
                "athena:GetQueryResults",
                "athena:StopQueryExecution",
                "athena:GetWorkGroup",
            ],
            "Resource": [
                f"arn:aws:athena:{region}:{account_id}:workgroup/{workgroup}" for region in regions
            ],
        },
        {
            "Sid": "FlowLogTablesInGlue",
            "Effect": "Allow",
            "Action": [
                "glue:GetDatabase",
                "glue:CreateDatabase",
                "glue:GetTable",
                "glue:CreateTable",
            ],
            "Resource": [
                arn
                for region in regions
                for arn in (
                    f"arn:aws:glue:{region}:{account_id}:catalog",
                    f"arn:aws:glue:{region}:{account_id}:database/{database}",
                    f"arn:aws:glue:{region}:{account_id}:table/{database}/*",
                )
            ],
        },
        {
            "Sid": "AthenaQueryResults",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": results,
        },
        {
            "Sid": "ListAthenaQueryResults",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": f"arn:aws:s3:::{bucket}",
            "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
        },
        {
            "Sid": "AthenaBucketLocations",
            "Effect": "Allow",
            "Action": ["s3:GetBucketLocation"],
            "Resource": [f"arn:aws:s3:::{name}" for name in buckets],
        },
    ]


def account_permission_policy(account: Any) -> tuple[dict[str, Any], bool, bool]:
    """The permission policy of an account from what discovery found, whether it names S3
    locations, and whether it names any flow-log destination (else it holds placeholders)."""
    from accounts.models import FlowLogConfig

    flow_logs = FlowLogConfig.objects.filter(account=account)
    log_groups = [
        (f.region, f.log_group_name)
        for f in flow_logs
        if f.destination_type == FlowLogDestination.CLOUDWATCH and f.log_group_name
    ]
    locations = [
        (f.s3_bucket, f.s3_prefix)
        for f in flow_logs
        if f.destination_type == FlowLogDestination.S3 and f.s3_bucket
    ]
    policy = permission_policy(
        account_id=account.account_id,
        regions=account.regions,
        log_groups=log_groups,
        s3_locations=locations,
        athena=account.athena_settings if account.athena_enabled else None,
    )
    return policy, bool(locations), bool(log_groups or locations)


def policies_for(account: Any, *, principal_arn: str | None = None) -> dict[str, Any]:
    """Both policies of an account as pretty JSON, using what discovery found."""
    policy, has_s3, has_destinations = account_permission_policy(account)
    return {
        "trust": json.dumps(
            trust_policy(external_id=account.external_id, principal_arn=principal_arn), indent=2
        ),
        "permissions": json.dumps(policy, indent=2),
        "has_s3": has_s3,
        "has_destinations": has_destinations,
    }
