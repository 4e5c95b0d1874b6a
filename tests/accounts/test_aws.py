"""analysis.aws against moto: assume-role with external ID, caching, client config, paging."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from analysis import aws
from tests.accounts.conftest import (
    ACCOUNT,
    AMI,
    REGION,
    ROLE_ARN,
    assumed_roles,
    build_world,
    client,
)
from tests.conftest import ROOT

SETTINGS = aws.AwsSettings()


def test_session_names_keep_to_the_characters_and_length_aws_allows() -> None:
    assert aws.role_session_name("alice") == "portal-alice"
    assert aws.role_session_name("Jean Dupont/ß!") == "portal-Jean-Dupont"
    assert aws.role_session_name("a.b+c=d,e@f_g-h") == "portal-a.b+c=d,e@f_g-h"
    long_name = aws.role_session_name("x" * 200)
    assert len(long_name) == 64 and long_name.startswith("portal-xxx")
    assert aws.role_session_name("") == "portal-system"


def test_it_assumes_the_role_with_the_external_id_and_a_session_naming_the_user(
    moto: None,
) -> None:
    role = aws.assume_role(
        role_arn=ROLE_ARN, external_id="ext-123", session_name="portal-alice", aws=SETTINGS
    )
    recorded = assumed_roles()
    assert [(r.role_arn, r.session_name, r.external_id) for r in recorded] == [
        (ROLE_ARN, "portal-alice", "ext-123")
    ]
    assert role.from_cache is False
    assert role.assumed_role_arn == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/FlowLogPortalReader/portal-alice"
    )
    # The session really carries the role's credentials: STS says who we are there.
    identity = aws.caller_identity(role.session, SETTINGS)
    assert identity["Arn"] == role.assumed_role_arn
    assert identity["Account"] == ACCOUNT


def test_sessions_are_cached_until_shortly_before_they_expire(moto: None) -> None:
    first = aws.assume_role(
        role_arn=ROLE_ARN, external_id="ext-1", session_name="portal-alice", aws=SETTINGS
    )
    second = aws.assume_role(
        role_arn=ROLE_ARN, external_id="ext-1", session_name="portal-alice", aws=SETTINGS
    )
    assert second.from_cache and second.expires_at == first.expires_at
    other_user = aws.assume_role(
        role_arn=ROLE_ARN, external_id="ext-1", session_name="portal-bob", aws=SETTINGS
    )
    assert other_user.from_cache is False
    near_expiry = first.expires_at - aws.REFRESH_MARGIN + timedelta(seconds=1)
    renewed = aws.assume_role(
        role_arn=ROLE_ARN,
        external_id="ext-1",
        session_name="portal-alice",
        aws=SETTINGS,
        now=near_expiry,
    )
    assert renewed.from_cache is False
    assert [r.session_name for r in assumed_roles()] == [
        "portal-alice",
        "portal-bob",
        "portal-alice",
    ]


def test_clients_have_timeouts_standard_retries_and_honour_aws_endpoint_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = aws.AwsSettings(connect_timeout=3, read_timeout=20, max_attempts=4)
    ec2 = aws.make_client(aws.portal_session(settings), "ec2", REGION, settings)
    assert ec2.meta.config.connect_timeout == 3
    assert ec2.meta.config.read_timeout == 20
    assert ec2.meta.config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert ec2.meta.endpoint_url == f"https://ec2.{REGION}.amazonaws.com"
    # botocore reads AWS_ENDPOINT_URL itself; an explicit endpoint wins over it.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    assert (
        aws.make_client(aws.portal_session(settings), "logs", REGION, settings).meta.endpoint_url
        == "http://127.0.0.1:4566"
    )
    explicit = replace(settings, endpoint_url="http://127.0.0.1:5001")
    assert (
        aws.make_client(aws.portal_session(explicit), "s3", REGION, explicit).meta.endpoint_url
        == "http://127.0.0.1:5001"
    )


def test_discovery_reads_every_page_of_instances(moto: None) -> None:
    ec2 = client("ec2")
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]  # the default VPC's
    # One reservation each: moto pages DescribeInstances by reservation.
    launched = {
        ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0][
            "InstanceId"
        ]
        for _ in range(60)
    }
    role = aws.assume_role(
        role_arn=ROLE_ARN, external_id="ext-1", session_name="portal-t", aws=SETTINGS
    )
    small_pages = replace(SETTINGS, page_size=5)
    inventory = aws.discover_region(role.session, REGION, small_pages)
    assert len(inventory.instances) == 60
    assert {i["instance_id"] for i in inventory.instances} == launched
    first_page = client("ec2").describe_instances(MaxResults=5)
    assert len(first_page["Reservations"]) == 5 and first_page.get("NextToken")


def test_discovery_finds_every_address_interface_cidr_and_flow_log(moto: None) -> None:
    world = build_world()
    role = aws.assume_role(
        role_arn=ROLE_ARN, external_id="ext-1", session_name="portal-t", aws=SETTINGS
    )
    inventory = aws.discover_region(role.session, REGION, SETTINGS)

    web = next(i for i in inventory.instances if i["instance_id"] == world["web"])
    assert web["name"] == "web" and web["state"] == "running"
    assert web["private_ips"] == ["10.0.1.10", "10.0.1.11", "10.0.1.77"]
    assert web["ipv6_addresses"] == ["2400:6500:1:1::10"]
    assert web["public_ips"] == [world["public_ip"]]
    assert web["interfaces"] == [world["web_eni"], world["second_eni"]]
    assert (web["vpc_id"], web["subnet_id"]) == (world["vpc_id"], world["web_subnet"])

    vpc = next(v for v in inventory.vpcs if v["vpc_id"] == world["vpc_id"])
    assert vpc["name"] == "main" and vpc["primary_cidr"] == "10.0.0.0/16"
    assert vpc["secondary_cidrs"] == ["10.1.0.0/16"]
    assert len(vpc["ipv6_cidrs"]) == 1 and vpc["ipv6_cidrs"][0].endswith("::/56")

    flows = {f["flow_log_id"]: f for f in inventory.flow_logs}
    s3_flow = flows[world["vpc_flow"]]
    assert (s3_flow["destination_type"], s3_flow["s3_bucket"], s3_flow["s3_prefix"]) == (
        "s3",
        "flow-bucket",
        "",
    )
    assert (s3_flow["resource_type"], s3_flow["resource_id"]) == ("VPC", world["vpc_id"])
    assert s3_flow["log_format"].startswith("${version} ${account-id} ${interface-id}")
    subnet_flow = flows[world["subnet_flow"]]
    # moto gives LogGroupName but no LogDestination for CloudWatch flow logs.
    assert (subnet_flow["destination_type"], subnet_flow["log_group_name"]) == (
        "cloud-watch-logs",
        "/flow/subnets",
    )
    assert subnet_flow["resource_type"] == "Subnet"
    assert subnet_flow["log_format"] == (
        "${version} ${interface-id} ${srcaddr} ${dstaddr} ${action}"
    )
    assert flows[world["eni_flow"]]["resource_type"] == "NetworkInterface"
    assert flows[world["eni_flow"]]["traffic_type"] == "REJECT"


def test_s3_destinations_and_options_are_parsed_as_real_aws_returns_them() -> None:
    # moto cannot create an S3 flow log with a prefix or destination options, so this uses a
    # DescribeFlowLogs item shaped like AWS's documentation.
    item = aws.normalize_flow_log(
        {
            "FlowLogId": "fl-1",
            "ResourceId": "eni-0abc",
            "LogDestinationType": "s3",
            "LogDestination": "arn:aws:s3:::corp-logs/network/flow/",
            "LogFormat": "${version} ${srcaddr}",
            "FlowLogStatus": "ACTIVE",
            "DestinationOptions": {
                "FileFormat": "parquet",
                "HiveCompatiblePartitions": True,
                "PerHourPartition": True,
            },
        },
        REGION,
    )
    assert (item["s3_bucket"], item["s3_prefix"]) == ("corp-logs", "network/flow/")
    assert (
        item["file_format"],
        item["hive_compatible_partitions"],
        item["per_hour_partition"],
    ) == ("parquet", True, True)
    assert item["resource_type"] == "NetworkInterface"
    cloudwatch = aws.normalize_flow_log(
        {
            "FlowLogId": "fl-2",
            "ResourceId": "subnet-1",
            "LogDestinationType": "cloud-watch-logs",
            "LogDestination": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/vpc/flow:*",
        },
        REGION,
    )
    assert cloudwatch["log_group_name"] == "/vpc/flow"
    assert aws.parse_s3_destination("arn:aws:s3:::bucket") == ("bucket", "")
    with pytest.raises(ValueError, match="not an S3 ARN"):
        aws.parse_s3_destination("s3://bucket/prefix")


def test_aws_errors_carry_the_code_and_message(moto: None) -> None:
    role = aws.assume_role(
        role_arn=ROLE_ARN, external_id="ext-1", session_name="portal-t", aws=SETTINGS
    )
    results: list[dict[str, Any]] = aws.check_permissions(
        role.session,
        [REGION],
        SETTINGS,
        {REGION: aws.LogTargets(log_groups=("/missing",), s3_locations=(("no-such-bucket", ""),))},
    )
    by_check = {(r["check"], r["target"]): r for r in results}
    missing_group = by_check[("logs:DescribeLogStreams", "/missing")]
    assert missing_group["ok"] is False and missing_group["code"] == "ResourceNotFoundException"
    missing_bucket = by_check[("s3:ListBucket", "s3://no-such-bucket/AWSLogs/")]
    assert missing_bucket["ok"] is False and missing_bucket["code"] == "NoSuchBucket"
    assert by_check[("ec2:DescribeInstances", "")]["ok"] is True


def test_the_aws_module_works_without_django() -> None:
    code = (
        "import sys, analysis.aws as a; "
        "assert not [m for m in sys.modules if m.split('.')[0] == 'django'], 'django imported'; "
        "assert 'eu-west-1' in a.known_regions()"
    )
    env = {"PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
