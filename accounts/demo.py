"""A demo AWS world on a moto server: the generator's VPC, instances and flow logs, registered.

`seed_demo_account(endpoint_url)` builds, against a running moto server (never real AWS), what
`analysis.demo` describes: one VPC with 10.0.0.0/16 and 10.1.0.0/16, a subnet per instance, the
six instances with the generator's private IPs and names, a flow log to CloudWatch Logs and one
to S3, both holding the generated records (with moto's interface ids in place of the
generator's), a role for the portal, and the AwsAccount with discovery already run.
"""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import json
import os
import tempfile
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from accounts.conf import portal_aws_settings
from accounts.models import AwsAccount
from accounts.policies import permission_policy, trust_policy
from accounts.services import create_account, refresh_discovery, update_account
from analysis import aws
from analysis.demo import generate

DEMO_ACCOUNT_NAME = "Demo account (moto)"
DEMO_REGION = "us-east-1"
DEMO_ROLE_NAME = "FlowLogPortalDemoReader"
DEMO_DELIVERY_ROLE_NAME = "FlowLogPortalDemoDelivery"
DEMO_VPC_NAME = "flowlog-portal-demo"
DEMO_LOG_GROUP = "/flowlog-portal/demo/vpc-flow-logs"
DEMO_AMI = "ami-12c6146b"  # an image id moto ships
PUBLIC_INSTANCES = ("web", "bastion")
# CloudWatch Logs limits per PutLogEvents call.
_MAX_BATCH_EVENTS = 10_000
_MAX_BATCH_BYTES = 1_000_000
_EVENT_OVERHEAD = 26


def demo_bucket(account_id: str) -> str:
    return f"flowlog-portal-demo-{account_id}"


def _ensure_dummy_credentials() -> None:
    """moto accepts any keys; give boto3 some when none are configured, so the demo runs on a
    machine without AWS credentials. Never used against real AWS: every client gets the moto
    endpoint explicitly."""
    if aws.portal_session(portal_aws_settings()).get_credentials() is None:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "demo")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "demo")


def seed_demo_account(
    endpoint_url: str, *, lines: int = 5000, end: datetime | None = None
) -> AwsAccount:
    """Build the demo world on the moto server at `endpoint_url` (idempotent: a second call finds
    the VPC and only registers/refreshes the account) and return the registered account."""
    _ensure_dummy_credentials()
    settings = replace(portal_aws_settings(), endpoint_url=endpoint_url)
    session = aws.portal_session(settings)
    identity = aws.caller_identity(session, settings)
    account_id = identity["Account"]
    ec2 = aws.make_client(session, "ec2", DEMO_REGION, settings)

    account = AwsAccount.objects.filter(name=DEMO_ACCOUNT_NAME).first()
    if account is None:
        account = create_account(
            user=None,
            name=DEMO_ACCOUNT_NAME,
            account_id=account_id,
            role_arn=f"arn:aws:iam::{account_id}:role/{DEMO_ROLE_NAME}",
            regions=[DEMO_REGION],
            notes=f"Demo world on the moto server at {endpoint_url}.",
        )
    _ensure_role(session, settings, account, principal_arn=identity["Arn"])

    existing = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [DEMO_VPC_NAME]}])
    if not existing["Vpcs"]:
        mapping = _build_world(session, settings, account_id, lines=lines, end=end)
        update_account(user=None, account=account, notes=_notes(endpoint_url, mapping))
    refresh_discovery(user=None, account=account, aws_settings=settings)
    account.refresh_from_db()
    return account


def _ensure_role(
    session: Any, settings: aws.AwsSettings, account: AwsAccount, *, principal_arn: str
) -> None:
    iam = aws.make_client(session, "iam", DEMO_REGION, settings)
    trust = json.dumps(trust_policy(external_id=account.external_id, principal_arn=principal_arn))
    try:
        iam.create_role(
            RoleName=DEMO_ROLE_NAME,
            AssumeRolePolicyDocument=trust,
            Description="Read-only access for the Flow Log Portal demo",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "EntityAlreadyExists":
            raise
        iam.update_assume_role_policy(RoleName=DEMO_ROLE_NAME, PolicyDocument=trust)
    policy = permission_policy(
        account_id=account.account_id,
        regions=[DEMO_REGION],
        log_groups=[(DEMO_REGION, DEMO_LOG_GROUP)],
        s3_locations=[(demo_bucket(account.account_id), "")],
    )
    iam.put_role_policy(
        RoleName=DEMO_ROLE_NAME, PolicyName="FlowLogPortalRead", PolicyDocument=json.dumps(policy)
    )


def _build_world(
    session: Any,
    settings: aws.AwsSettings,
    account_id: str,
    *,
    lines: int,
    end: datetime | None,
) -> list[dict[str, str]]:
    ec2 = aws.make_client(session, "ec2", DEMO_REGION, settings)
    iam = aws.make_client(session, "iam", DEMO_REGION, settings)
    logs = aws.make_client(session, "logs", DEMO_REGION, settings)
    s3 = aws.make_client(session, "s3", DEMO_REGION, settings)

    with tempfile.TemporaryDirectory() as folder:
        # Recent times: moto drops CloudWatch events older than 14 days or 2 hours ahead.
        moment = end or datetime.now(UTC).replace(second=0, microsecond=0)
        manifest = generate(Path(folder) / "demo.log", lines=lines, seed=7, end=moment, header=True)
        text = Path(manifest.path).read_text(encoding="ascii").splitlines()
    header, records = text[0], text[1:]

    primary, *secondary = manifest.vpc_cidrs
    vpc_id = ec2.create_vpc(
        CidrBlock=primary,
        TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": DEMO_VPC_NAME}]}
        ],
    )["Vpc"]["VpcId"]
    for cidr in secondary:
        ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock=cidr)

    subnets: dict[str, str] = {}
    mapping: list[dict[str, str]] = []
    eni_of: dict[str, str] = {}
    for demo in manifest.instances:
        cidr = str(ipaddress.ip_network(f"{demo.ip}/24", strict=False))
        if cidr not in subnets:
            subnets[cidr] = ec2.create_subnet(
                VpcId=vpc_id,
                CidrBlock=cidr,
                TagSpecifications=[
                    {
                        "ResourceType": "subnet",
                        "Tags": [{"Key": "Name", "Value": f"{DEMO_VPC_NAME}-{cidr}"}],
                    }
                ],
            )["Subnet"]["SubnetId"]
        instance = ec2.run_instances(
            ImageId=DEMO_AMI,
            InstanceType="t3.micro",
            MinCount=1,
            MaxCount=1,
            SubnetId=subnets[cidr],
            PrivateIpAddress=demo.ip,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [
                        {"Key": "Name", "Value": demo.name},
                        {"Key": "flowlog-portal:generator-instance-id", "Value": demo.instance_id},
                        {
                            "Key": "flowlog-portal:generator-interface-id",
                            "Value": demo.interface_id,
                        },
                    ],
                }
            ],
        )["Instances"][0]
        eni = instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
        public_ip = ""
        if demo.name in PUBLIC_INSTANCES:
            allocation = ec2.allocate_address(Domain="vpc")
            ec2.associate_address(
                AllocationId=allocation["AllocationId"], InstanceId=instance["InstanceId"]
            )
            public_ip = allocation["PublicIp"]
        eni_of[demo.interface_id] = eni
        mapping.append(
            {
                "name": demo.name,
                "instance_id": instance["InstanceId"],
                "interface_id": eni,
                "private_ip": instance["PrivateIpAddress"],
                "public_ip": public_ip,
                "generator_instance_id": demo.instance_id,
                "generator_interface_id": demo.interface_id,
            }
        )

    # The records name moto's interfaces, so what the logs say matches what discovery finds.
    records = [_rename_interface(line, eni_of) for line in records]

    delivery = iam.create_role(
        RoleName=DEMO_DELIVERY_ROLE_NAME,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    logs.create_log_group(logGroupName=DEMO_LOG_GROUP)
    ec2.create_flow_logs(
        ResourceIds=[vpc_id],
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="cloud-watch-logs",
        LogGroupName=DEMO_LOG_GROUP,
        DeliverLogsPermissionArn=delivery,
    )
    _put_cloudwatch(logs, records)

    bucket = demo_bucket(account_id)
    s3.create_bucket(Bucket=bucket)
    # moto refuses an S3 destination with a prefix (it looks the whole path up as a bucket),
    # so the demo uses the bucket root and AWS's default AWSLogs/... layout.
    flow_log_id = ec2.create_flow_logs(
        ResourceIds=[vpc_id],
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="s3",
        LogDestination=f"arn:aws:s3:::{bucket}",
    )["FlowLogIds"][0]
    _put_s3(s3, bucket, account_id, flow_log_id, header, records)
    return mapping


def _rename_interface(line: str, eni_of: dict[str, str]) -> str:
    fields = line.split(" ")
    if len(fields) > 2 and fields[2] in eni_of:
        fields[2] = eni_of[fields[2]]
    return " ".join(fields)


def _start_of(line: str) -> int:
    # Default v2 format: field 10 is `start` (epoch seconds).
    return int(line.split(" ")[10])


def _put_cloudwatch(logs: Any, records: list[str]) -> None:
    """One stream per interface (`<eni>-all`, as AWS names them), events in time order."""
    by_stream: dict[str, list[str]] = defaultdict(list)
    for line in records:
        by_stream[f"{line.split(' ')[2]}-all"].append(line)
    for stream, lines in sorted(by_stream.items()):
        logs.create_log_stream(logGroupName=DEMO_LOG_GROUP, logStreamName=stream)
        events: list[dict[str, Any]] = sorted(
            ({"timestamp": _start_of(line) * 1000, "message": line} for line in lines),
            key=lambda event: event["timestamp"],
        )
        batch: list[dict[str, Any]] = []
        size = 0
        for event in events:
            event_size = len(event["message"]) + _EVENT_OVERHEAD
            if batch and (len(batch) >= _MAX_BATCH_EVENTS or size + event_size > _MAX_BATCH_BYTES):
                logs.put_log_events(
                    logGroupName=DEMO_LOG_GROUP, logStreamName=stream, logEvents=batch
                )
                batch, size = [], 0
            batch.append(event)
            size += event_size
        if batch:
            logs.put_log_events(logGroupName=DEMO_LOG_GROUP, logStreamName=stream, logEvents=batch)


def s3_key(account_id: str, region: str, flow_log_id: str, hour: datetime, digest: str) -> str:
    """AWS's default layout: AWSLogs/{account}/vpcflowlogs/{region}/YYYY/MM/DD/<file>.log.gz"""
    return (
        f"AWSLogs/{account_id}/vpcflowlogs/{region}/{hour:%Y/%m/%d}/"
        f"{account_id}_vpcflowlogs_{region}_{flow_log_id}_{hour:%Y%m%dT%H%M}Z_{digest}.log.gz"
    )


def _put_s3(
    s3: Any, bucket: str, account_id: str, flow_log_id: str, header: str, records: list[str]
) -> None:
    """One gzip file per hour of records, each with the header line AWS writes."""
    by_hour: dict[datetime, list[str]] = defaultdict(list)
    for line in records:
        start = datetime.fromtimestamp(_start_of(line), UTC)
        by_hour[start.replace(minute=0, second=0, microsecond=0)].append(line)
    for hour, lines in sorted(by_hour.items()):
        body = gzip.compress(("\n".join([header, *lines]) + "\n").encode("ascii"), mtime=0)
        digest = hashlib.sha256(body).hexdigest()[:8]
        s3.put_object(
            Bucket=bucket, Key=s3_key(account_id, DEMO_REGION, flow_log_id, hour, digest), Body=body
        )


def _notes(endpoint_url: str, mapping: list[dict[str, str]]) -> str:
    rows = [
        f"{m['name']}: {m['instance_id']} {m['interface_id']} {m['private_ip']}"
        f"{' public ' + m['public_ip'] if m['public_ip'] else ''}"
        f" (generator {m['generator_instance_id']} {m['generator_interface_id']})"
        for m in mapping
    ]
    return "\n".join(
        [
            f"Demo world on the moto server at {endpoint_url}.",
            "Instances (moto ids ↔ analysis.demo ids):",
            *rows,
        ]
    )


DEMO_HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status"
)


def plant_records(endpoint_url: str, account: AwsAccount, records: list[str]) -> None:
    """Deliver more flow records (default format) to the demo world on the moto server at
    `endpoint_url`, as AWS would: into the interfaces' CloudWatch streams and as new hourly
    objects in the S3 bucket. For `demo_incident`; never for real AWS."""
    from accounts.models import FlowLogConfig

    _ensure_dummy_credentials()
    settings = replace(portal_aws_settings(), endpoint_url=endpoint_url)
    session = aws.portal_session(settings)
    logs = aws.make_client(session, "logs", DEMO_REGION, settings)
    by_stream: dict[str, list[str]] = defaultdict(list)
    for line in records:
        by_stream[f"{line.split(' ')[2]}-all"].append(line)
    for stream, lines in sorted(by_stream.items()):
        try:
            logs.create_log_stream(logGroupName=DEMO_LOG_GROUP, logStreamName=stream)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                raise
        events = [
            {"timestamp": _start_of(line) * 1000, "message": line}
            for line in sorted(lines, key=_start_of)
        ]
        logs.put_log_events(logGroupName=DEMO_LOG_GROUP, logStreamName=stream, logEvents=events)
    flow_log = FlowLogConfig.objects.filter(account=account, destination_type="s3").first()
    if flow_log is not None:
        s3 = aws.make_client(session, "s3", DEMO_REGION, settings)
        _put_s3(
            s3,
            demo_bucket(account.account_id),
            account.account_id,
            flow_log.flow_log_id,
            DEMO_HEADER,
            records,
        )
