"""Account services against moto: discovery, the resolver, connection tests and audit events."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command

from accounts import services
from accounts.models import AwsAccount, FlowLogConfig, Instance, RegionDiscovery, Vpc
from accounts.tasks import refresh_discovery as refresh_task
from portal.models import AuditEvent
from tests.accounts.conftest import (
    ACCOUNT,
    AMI,
    REGION,
    ROLE_ARN,
    assumed_roles,
    build_world,
    client,
)


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


@pytest.mark.django_db
def test_create_account_validates_with_messages_per_field(admin_user: Any) -> None:
    with pytest.raises(ValidationError) as bad:
        services.create_account(
            user=admin_user,
            name="x",
            account_id="12345",
            role_arn="arn:aws:iam::123456789012:user/bob",
            regions=["eu-west-9", "us-east-1"],
        )
    errors = bad.value.message_dict
    assert "exactly 12 digits" in errors["account_id"][0]
    assert "role ARN looks like arn:aws:iam::123456789012:role/" in errors["role_arn"][0]
    assert errors["regions"] == [
        "Unknown region: eu-west-9. Region names look like eu-west-1 or us-east-2."
    ]
    with pytest.raises(ValidationError) as mismatch:
        services.create_account(
            user=admin_user,
            name="x",
            account_id="111122223333",
            role_arn=ROLE_ARN,
            regions=["eu-west-1"],
        )
    assert mismatch.value.message_dict["role_arn"] == [
        f"The role belongs to account {ACCOUNT}, not to 111122223333; the role must be in the "
        "account being registered."
    ]
    assert not AwsAccount.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="aws_account.").exists()


@pytest.mark.django_db
def test_admins_create_change_and_delete_accounts_with_audit_events(admin_user: Any) -> None:
    account = services.create_account(
        user=admin_user,
        name="Prod",
        account_id=ACCOUNT,
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/team/a/FlowLogPortalReader",
        regions=["eu-west-1"],
    )
    other = services.create_account(
        user=admin_user, name="Other", account_id=ACCOUNT, role_arn=ROLE_ARN, regions=["us-east-1"]
    )
    assert account.external_id.startswith("flp-") and len(account.external_id) >= 32
    assert account.external_id != other.external_id
    services.update_account(user=admin_user, account=account, regions=["eu-west-1", "us-east-2"])
    account.refresh_from_db()
    assert account.regions == ["eu-west-1", "us-east-2"]
    services.delete_account(user=admin_user, account=account)
    assert list(AwsAccount.objects.values_list("name", flat=True)) == ["Other"]
    created, updated, deleted = (
        _events("aws_account.created"),
        _events("aws_account.updated"),
        _events("aws_account.deleted"),
    )
    assert [e.details["name"] for e in created] == ["Prod", "Other"]
    assert updated[0].details["changed"] == {
        "regions": {"from": ["eu-west-1"], "to": ["eu-west-1", "us-east-2"]}
    }
    assert deleted[0].actor == admin_user and deleted[0].target_repr == f"Prod ({ACCOUNT})"


@pytest.mark.django_db
def test_analysts_and_managers_cannot_change_accounts(
    analyst: Any, manager: Any, aws_account: AwsAccount
) -> None:
    for user in (analyst, manager):
        with pytest.raises(PermissionDenied):
            services.create_account(
                user=user, name="x", account_id=ACCOUNT, role_arn=ROLE_ARN, regions=["eu-west-1"]
            )
        with pytest.raises(PermissionDenied):
            services.refresh_discovery(user=user, account=aws_account)
        with pytest.raises(PermissionDenied):
            services.run_connection_test(user=user, account=aws_account)


@pytest.mark.django_db
def test_discovery_caches_rows_and_writes_audit_events(
    moto: None, admin_user: Any, aws_account: AwsAccount
) -> None:
    world = build_world()
    result = services.refresh_discovery(user=admin_user, account=aws_account)
    assert result.ok
    assert result.regions[REGION]["instances"] == 2
    web = Instance.objects.get(account=aws_account, instance_id=world["web"])
    assert web.private_ips == ["10.0.1.10", "10.0.1.11", "10.0.1.77"]
    assert web.interfaces == [world["web_eni"], world["second_eni"]]
    vpc = Vpc.objects.get(account=aws_account, vpc_id=world["vpc_id"])
    assert vpc.cidrs[:2] == ["10.0.0.0/16", "10.1.0.0/16"] and len(vpc.cidrs) == 3
    assert Vpc.objects.filter(account=aws_account).count() == 2  # with moto's default VPC
    assert set(
        FlowLogConfig.objects.filter(account=aws_account).values_list(
            "flow_log_id", "destination_type"
        )
    ) == {
        (world["vpc_flow"], "s3"),
        (world["subnet_flow"], "cloud-watch-logs"),
        (world["eni_flow"], "cloud-watch-logs"),
    }
    discovery = RegionDiscovery.objects.get(account=aws_account, region=REGION)
    assert (discovery.status, discovery.instance_count, discovery.flow_log_count) == ("ok", 2, 3)
    aws_account.refresh_from_db()
    assert aws_account.discovered_at == discovery.refreshed_at

    assumed = _events("aws_account.role_assumed")
    assert len(assumed) == 1 and assumed[0].actor == admin_user
    assert assumed[0].details["session_name"] == "portal-root"
    assert assumed[0].details["purpose"] == "discovery" and assumed[0].details["ok"] is True
    refreshed = _events("aws_account.discovery_refreshed")
    assert refreshed[0].details["regions"][REGION]["flow_logs"] == 3
    assert [(r.session_name, r.external_id) for r in assumed_roles()] == [
        ("portal-root", aws_account.external_id)
    ]


@pytest.mark.django_db
def test_a_refresh_replaces_the_region_and_a_failed_region_keeps_its_rows(
    moto: None, admin_user: Any, aws_account: AwsAccount
) -> None:
    world = build_world()
    services.refresh_discovery(user=admin_user, account=aws_account)
    client("ec2").terminate_instances(InstanceIds=[world["db"]])
    client("ec2").delete_flow_logs(FlowLogIds=[world["eni_flow"]])
    services.refresh_discovery(user=admin_user, account=aws_account)
    states = dict(Instance.objects.filter(account=aws_account).values_list("instance_id", "state"))
    assert states == {world["web"]: "running", world["db"]: "terminated"}
    assert world["eni_flow"] not in set(
        FlowLogConfig.objects.filter(account=aws_account).values_list("flow_log_id", flat=True)
    )

    # AWS unreachable (nothing listens on port 9): the region fails, its rows stay.
    from dataclasses import replace

    from accounts.conf import portal_aws_settings

    broken = replace(
        portal_aws_settings(),
        endpoint_url="http://127.0.0.1:9",
        max_attempts=1,
        connect_timeout=0.5,
    )
    result = services.refresh_discovery(user=admin_user, account=aws_account, aws_settings=broken)
    assert not result.ok
    assert "EndpointConnectionError" in result.regions[REGION]["error"]
    discovery = RegionDiscovery.objects.get(account=aws_account, region=REGION)
    assert discovery.status == "failed" and "EndpointConnectionError" in discovery.error
    assert discovery.refreshed_at is not None  # the last good refresh is still known
    assert Instance.objects.filter(account=aws_account).count() == 2  # old rows kept
    failed = _events("aws_account.role_assumed")[-1]
    assert failed.details["ok"] is False and failed.details["code"] == "EndpointConnectionError"


@pytest.mark.django_db
def test_removed_regions_lose_their_cached_rows(
    moto: None, admin_user: Any, aws_account: AwsAccount
) -> None:
    build_world()
    services.refresh_discovery(user=admin_user, account=aws_account)
    services.update_account(user=admin_user, account=aws_account, regions=["us-east-1"])
    services.refresh_discovery(user=admin_user, account=aws_account)
    assert not Instance.objects.filter(account=aws_account, region=REGION).exists()
    assert not Vpc.objects.filter(account=aws_account, region=REGION).exists()
    assert list(
        RegionDiscovery.objects.filter(account=aws_account).values_list("region", flat=True)
    ) == ["us-east-1"]


@pytest.mark.django_db
def test_the_resolver_prefers_interface_then_subnet_then_vpc_flow_logs(
    moto: None, admin_user: Any, analyst: Any, aws_account: AwsAccount
) -> None:
    world = build_world()
    services.refresh_discovery(user=admin_user, account=aws_account)

    web = services.resolve_instance(user=analyst, account=aws_account, query="web")
    assert web.instance_id == world["web"]
    assert web.private_ips == ["10.0.1.10", "10.0.1.11", "10.0.1.77"]
    assert web.public_ips == [world["public_ip"]]
    assert web.ipv6_addresses == ["2400:6500:1:1::10"]
    assert web.vpc_cidrs[:2] == ["10.0.0.0/16", "10.1.0.0/16"] and len(web.vpc_cidrs) == 3
    assert web.flow_log is not None
    assert (
        web.flow_log["flow_log_id"],
        web.flow_log["resource_type"],
        web.flow_log["source"],
        web.flow_log["log_group_name"],
    ) == (world["eni_flow"], "NetworkInterface", "cloudwatch", "/flow/web-eni")
    assert [f["flow_log_id"] for f in web.flow_logs] == [world["eni_flow"], world["vpc_flow"]]

    db = services.resolve_instance(user=analyst, account=aws_account, query=world["db"])
    assert db.flow_log is not None
    assert (db.flow_log["flow_log_id"], db.flow_log["source"], db.flow_log["log_format"]) == (
        world["subnet_flow"],
        "cloudwatch",
        "${version} ${interface-id} ${srcaddr} ${dstaddr} ${action}",
    )
    by_ip = services.resolve_instance(user=analyst, account=aws_account, query="10.1.3.30")
    assert by_ip.instance_id == world["db"]

    # Without the subnet and interface flow logs, the VPC's S3 flow log covers both.
    FlowLogConfig.objects.exclude(flow_log_id=world["vpc_flow"]).delete()
    db = services.resolve_instance(user=analyst, account=aws_account, query="db")
    assert db.flow_log is not None
    assert (
        db.flow_log["source"],
        db.flow_log["s3_bucket"],
        db.flow_log["s3_prefix"],
        db.flow_log["file_format"],
    ) == ("s3", "flow-bucket", "", "plain-text")


@pytest.mark.django_db
def test_a_subnet_flow_log_covers_an_instance_through_a_secondary_interface(
    moto: None, admin_user: Any, analyst: Any, aws_account: AwsAccount
) -> None:
    world = build_world()
    ec2 = client("ec2", REGION)
    app = ec2.run_instances(
        ImageId=AMI,
        MinCount=1,
        MaxCount=1,
        SubnetId=world["web_subnet"],
        PrivateIpAddress="10.0.1.40",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "app"}]}],
    )["Instances"][0]
    # Its second interface sits in the db subnet, which has a subnet flow log.
    leg = ec2.create_network_interface(SubnetId=world["db_subnet"], PrivateIpAddress="10.1.3.40")
    ec2.attach_network_interface(
        NetworkInterfaceId=leg["NetworkInterface"]["NetworkInterfaceId"],
        InstanceId=app["InstanceId"],
        DeviceIndex=1,
    )
    services.refresh_discovery(user=admin_user, account=aws_account)

    stored = Instance.objects.get(instance_id=app["InstanceId"])
    assert stored.subnet_id == world["web_subnet"]
    assert stored.subnet_ids == [world["web_subnet"], world["db_subnet"]]
    target = services.resolve_instance(user=analyst, account=aws_account, query="app")
    assert target.subnet_ids == [world["web_subnet"], world["db_subnet"]]
    assert target.flow_log is not None and target.flow_log["flow_log_id"] == world["subnet_flow"]
    assert [f["flow_log_id"] for f in target.flow_logs] == [world["subnet_flow"], world["vpc_flow"]]


@pytest.mark.django_db
def test_search_and_resolve_say_when_nothing_or_too_much_matches(
    moto: None, admin_user: Any, analyst: Any, aws_account: AwsAccount
) -> None:
    build_world()
    ec2 = client("ec2")
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    for index in range(25):
        ec2.run_instances(
            ImageId=AMI,
            MinCount=1,
            MaxCount=1,
            SubnetId=subnet,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": "Name", "Value": f"worker-{index:02d}"}],
                }
            ],
        )
    services.refresh_discovery(user=admin_user, account=aws_account)
    results, total = services.search_instances(user=analyst, account=aws_account, query="WORKER")
    assert total == 25 and len(results) == services.SEARCH_LIMIT
    assert results[0].name == "worker-00"
    with pytest.raises(services.AmbiguousInstance, match="25 instances match 'worker'"):
        services.resolve_instance(user=analyst, account=aws_account, query="worker")
    with pytest.raises(services.InstanceNotFound, match="refresh discovery"):
        services.resolve_instance(user=analyst, account=aws_account, query="nothing-like-it")
    assert (
        services.resolve_instance(user=analyst, account=aws_account, query="worker-07").name
        == "worker-07"
    )


@pytest.mark.django_db
def test_connection_test_reports_identity_and_every_check(
    moto: None, admin_user: Any, aws_account: AwsAccount
) -> None:
    world = build_world()
    result = services.run_connection_test(user=admin_user, account=aws_account)
    assert result["ok"] is True, [c for c in result["checks"] if not c["ok"]]
    assert result["identity"]["Arn"] == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/FlowLogPortalReader/portal-root"
    )
    checks = {(c["check"], c["target"]) for c in result["checks"]}
    assert {
        ("sts:AssumeRole", ROLE_ARN),
        ("ec2:DescribeInstances", ""),
        ("ec2:DescribeFlowLogs", ""),
        ("logs:DescribeLogGroups", ""),
        ("logs:DescribeLogStreams", "/flow/subnets"),
        ("logs:FilterLogEvents", "/flow/web-eni"),
        ("s3:ListBucket", "s3://flow-bucket/AWSLogs/"),
    } <= checks
    get_object = [c for c in result["checks"] if c["check"] == "s3:GetObject"]
    assert get_object[0]["target"].startswith(f"s3://flow-bucket/AWSLogs/{ACCOUNT}/")
    aws_account.refresh_from_db()
    assert aws_account.last_test_ok is True and aws_account.last_tested_at is not None
    assert aws_account.last_test_result["checks"] == result["checks"]
    tested = _events("aws_account.connection_tested")
    assert tested[0].details["ok"] is True and tested[0].details["failed"] == []
    assert _events("aws_account.role_assumed")[0].details["purpose"] == "connection test"
    assert world  # the flow-log destinations came from DescribeFlowLogs, not from the database


@pytest.mark.django_db
def test_the_task_and_the_command_refresh_discovery_as_the_system(
    moto: None, aws_account: AwsAccount, admin_user: Any
) -> None:
    world = build_world()
    refresh_task(aws_account.pk)
    assert Instance.objects.filter(account=aws_account).count() == 2
    event = _events("aws_account.role_assumed")[-1]
    assert event.actor_name == "system" and event.details["session_name"] == "portal-system"
    refresh_task(aws_account.pk, admin_user.pk)
    assert _events("aws_account.role_assumed")[-1].details["session_name"] == "portal-root"
    refresh_task(999_999)  # a deleted account is not an error

    client("ec2").terminate_instances(InstanceIds=[world["web"]])
    out = StringIO()
    call_command("discover_account", "Production", stdout=out)
    assert f"{REGION}: 2 instances" in out.getvalue()
    assert Instance.objects.get(instance_id=world["web"]).state == "terminated"
    with pytest.raises(CommandError, match="not set up for us-east-1"):
        call_command("discover_account", str(aws_account.pk), "--region", "us-east-1")
    with pytest.raises(CommandError, match="0 AWS accounts match"):
        call_command("discover_account", "nope")
