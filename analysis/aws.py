"""The one module that makes boto3 clients: portal identity, assumed roles, retries and paging."""

from __future__ import annotations

import contextlib
import functools
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# Commercial-partition regions, so validation works offline and without boto3's endpoint data;
# `known_regions()` adds whatever the installed botocore knows on top.
AWS_REGIONS: tuple[str, ...] = (
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)

# AWS allows [\w+=,.@-] in a RoleSessionName, 2 to 64 characters.
_SESSION_NAME_BAD = re.compile(r"[^A-Za-z0-9_+=,.@-]")
SESSION_NAME_MAX = 64
# Assumed credentials are renewed this long before they expire.
REFRESH_MARGIN = timedelta(minutes=5)

_XML_ERROR = re.compile(r"<Code>(?P<code>[^<]+)</Code>\s*<Message>(?P<message>[^<]*)</Message>")

CLOUDWATCH = "cloud-watch-logs"
S3 = "s3"


@functools.cache
def known_regions() -> list[str]:
    """Region names the portal accepts: the shipped list plus those of the installed botocore."""
    names = set(AWS_REGIONS)
    # The shipped list is enough when botocore has no endpoint data.
    with contextlib.suppress(Exception):
        names.update(new_session().get_available_regions("ec2"))
    return sorted(names)  # callers must not change the cached list


@dataclass(frozen=True)
class AwsSettings:
    """How the portal talks to AWS. `endpoint_url=None` leaves botocore to read the
    `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_<SERVICE>`) environment variable itself."""

    profile: str | None = None
    endpoint_url: str | None = None
    sts_region: str = "us-east-1"
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 6  # in all, the first try included
    retry_mode: str = "standard"
    session_seconds: int = 3600
    page_size: int = 200

    def client_config(self) -> Config:
        return Config(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"mode": self.retry_mode, "total_max_attempts": self.max_attempts},
            user_agent_extra="flowlog-portal",
        )


class AwsError(Exception):
    """An AWS call failed; `code` is AWS's error code (or the botocore exception's name)."""

    def __init__(self, code: str, message: str, *, operation: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.operation = operation

    @classmethod
    def from_exception(cls, exc: Exception, *, operation: str = "") -> AwsError:
        if isinstance(exc, AwsError):
            return exc
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code") or "ClientError")
            message = str(error.get("Message") or exc)
            embedded = _XML_ERROR.search(message)
            if code.isdigit() and embedded:
                # An error body in another protocol than the client expects (moto answers JSON
                # services with XML errors): botocore keeps only the HTTP status; read the body.
                code, message = embedded.group("code"), embedded.group("message")
            return cls(code, message, operation=operation)
        return cls(type(exc).__name__, str(exc), operation=operation)


_loader_lock = threading.Lock()
_loader: Any = None


def new_session(**kwargs: Any) -> boto3.Session:
    """A boto3 session sharing one loader of botocore's service models with every other.

    Each new botocore session otherwise reads and parses the service's JSON model again when
    it makes its first client: 0.08 to 0.27 s for EC2, S3 or CloudWatch Logs, against about
    0.015 s from the shared loader, and every assumed role, discovery and run makes sessions.
    The models are read-only data; the loader is the first session's (its data path kept)."""
    global _loader
    core = botocore.session.get_session()
    with _loader_lock:
        if _loader is None:
            _loader = core.get_component("data_loader")
        else:
            core.register_component("data_loader", _loader)
    return boto3.Session(botocore_session=core, **kwargs)


def portal_session(aws: AwsSettings) -> boto3.Session:
    """The portal's own identity: a named profile if configured, else the default chain
    (environment, instance or task role, SSO...). No keys are stored by the portal."""
    return new_session(profile_name=aws.profile) if aws.profile else new_session()


def make_client(session: boto3.Session, service: str, region: str, aws: AwsSettings) -> Any:
    kwargs: dict[str, Any] = {"region_name": region, "config": aws.client_config()}
    if aws.endpoint_url:
        kwargs["endpoint_url"] = aws.endpoint_url
    return session.client(service, **kwargs)  # type: ignore[call-overload]


def role_session_name(username: str) -> str:
    """`portal-<user>` with characters AWS refuses replaced, at most 64 characters."""
    cleaned = _SESSION_NAME_BAD.sub("-", username or "system").strip("-") or "system"
    return f"portal-{cleaned}"[:SESSION_NAME_MAX]


@dataclass(frozen=True)
class _Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expires_at: datetime
    assumed_role_arn: str


@dataclass(frozen=True)
class RoleSession:
    """A boto3 session holding a customer role's temporary credentials."""

    session: boto3.Session
    role_arn: str
    session_name: str
    assumed_role_arn: str
    expires_at: datetime
    from_cache: bool


_cache: dict[tuple[str, str, str, str], _Credentials] = {}
_cache_lock = threading.Lock()


def clear_session_cache() -> None:
    with _cache_lock:
        _cache.clear()
        _identity_cache.clear()


def assume_role(
    *,
    role_arn: str,
    external_id: str,
    session_name: str,
    aws: AwsSettings,
    now: datetime | None = None,
) -> RoleSession:
    """sts:AssumeRole with the external ID, reusing cached credentials until shortly before
    they expire. Raises AwsError."""
    key = (role_arn, external_id, session_name, aws.endpoint_url or "")
    moment = now or datetime.now(UTC)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None and cached.expires_at - REFRESH_MARGIN > moment:
        return _role_session(cached, role_arn, session_name, from_cache=True)
    try:
        sts = make_client(portal_session(aws), "sts", aws.sts_region, aws)
        response = sts.assume_role(
            RoleArn=role_arn,
            RoleSessionName=session_name,
            ExternalId=external_id,
            DurationSeconds=aws.session_seconds,
        )
    except (ClientError, BotoCoreError) as exc:
        raise AwsError.from_exception(exc, operation="sts:AssumeRole") from exc
    raw = response["Credentials"]
    expires = raw["Expiration"]
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    credentials = _Credentials(
        access_key_id=raw["AccessKeyId"],
        secret_access_key=raw["SecretAccessKey"],
        session_token=raw["SessionToken"],
        expires_at=expires,
        assumed_role_arn=response.get("AssumedRoleUser", {}).get("Arn", ""),
    )
    with _cache_lock:
        _cache[key] = credentials
    return _role_session(credentials, role_arn, session_name, from_cache=False)


def _role_session(
    credentials: _Credentials, role_arn: str, session_name: str, *, from_cache: bool
) -> RoleSession:
    session = new_session(
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
    )
    return RoleSession(
        session=session,
        role_arn=role_arn,
        session_name=session_name,
        assumed_role_arn=credentials.assumed_role_arn,
        expires_at=credentials.expires_at,
        from_cache=from_cache,
    )


def caller_identity(session: boto3.Session, aws: AwsSettings) -> dict[str, str]:
    try:
        response = make_client(session, "sts", aws.sts_region, aws).get_caller_identity()
    except (ClientError, BotoCoreError) as exc:
        raise AwsError.from_exception(exc, operation="sts:GetCallerIdentity") from exc
    return {key: response.get(key, "") for key in ("Account", "Arn", "UserId")}


# The portal's own identity, remembered this many seconds (a failure for less: it may be fixed,
# but a portal without AWS must not wait on STS at every page).
IDENTITY_MAX_AGE = 900.0
IDENTITY_FAILURE_MAX_AGE = 300.0
_identity_cache: dict[tuple[str, str, str], tuple[float, dict[str, str] | AwsError]] = {}


def portal_identity(aws: AwsSettings, *, now: float | None = None) -> dict[str, str]:
    """sts:GetCallerIdentity of the portal's own identity (profile or default chain): Account,
    Arn, UserId. Pages wait on it, so it makes two quick attempts and the answer is remembered
    (a failure briefly). Raises AwsError."""
    key = (aws.profile or "", aws.endpoint_url or "", aws.sts_region)
    moment = time.monotonic() if now is None else now
    with _cache_lock:
        cached = _identity_cache.get(key)
    if cached is not None and cached[0] > moment:
        if isinstance(cached[1], AwsError):
            raise cached[1]
        return dict(cached[1])
    quick = replace(
        aws,
        connect_timeout=min(aws.connect_timeout, 1.0),
        read_timeout=min(aws.read_timeout, 5.0),
        max_attempts=min(aws.max_attempts, 2),
    )
    try:
        identity = caller_identity(portal_session(quick), quick)
    except AwsError as exc:
        with _cache_lock:
            _identity_cache[key] = (moment + IDENTITY_FAILURE_MAX_AGE, exc)
        raise
    except BotoCoreError as exc:  # no credentials, a broken profile
        error = AwsError.from_exception(exc, operation="sts:GetCallerIdentity")
        with _cache_lock:
            _identity_cache[key] = (moment + IDENTITY_FAILURE_MAX_AGE, error)
        raise error from exc
    with _cache_lock:
        _identity_cache[key] = (moment + IDENTITY_MAX_AGE, identity)
    return dict(identity)


def _pages(
    client: Any, operation: str, result_key: str, page_size: int, **kwargs: Any
) -> Iterator[dict[str, Any]]:
    paginator = client.get_paginator(operation)
    for page in paginator.paginate(PaginationConfig={"PageSize": page_size}, **kwargs):
        yield from page.get(result_key, [])


def _unique(values: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


# ---------------------------------------------------------------- discovery (plain dicts)


def normalize_instance(raw: dict[str, Any], region: str) -> dict[str, Any]:
    """Every address and interface of one DescribeInstances instance."""
    interfaces = sorted(
        raw.get("NetworkInterfaces", []),
        key=lambda eni: eni.get("Attachment", {}).get("DeviceIndex", 0),
    )
    private = [raw.get("PrivateIpAddress")]
    ipv6: list[str | None] = []
    public = [raw.get("PublicIpAddress")]
    for eni in interfaces:
        private.append(eni.get("PrivateIpAddress"))
        for address in eni.get("PrivateIpAddresses", []):
            private.append(address.get("PrivateIpAddress"))
            public.append(address.get("Association", {}).get("PublicIp"))
        public.append(eni.get("Association", {}).get("PublicIp"))
        ipv6.extend(address.get("Ipv6Address") for address in eni.get("Ipv6Addresses", []))
    ipv6.append(raw.get("Ipv6Address"))
    tags = {tag.get("Key"): tag.get("Value", "") for tag in raw.get("Tags", [])}
    return {
        "region": region,
        "instance_id": raw["InstanceId"],
        "name": tags.get("Name", ""),
        "state": raw.get("State", {}).get("Name", ""),
        "private_ips": _unique(private),
        "ipv6_addresses": _unique(ipv6),
        "public_ips": _unique(public),
        "interfaces": _unique(eni.get("NetworkInterfaceId") for eni in interfaces),
        "vpc_id": raw.get("VpcId", "") or "",
        "subnet_id": raw.get("SubnetId", "") or "",
        # Every interface's subnet: a subnet flow log covers the instance through any of them.
        "subnet_ids": _unique([raw.get("SubnetId"), *(eni.get("SubnetId") for eni in interfaces)]),
    }


def normalize_vpc(raw: dict[str, Any], region: str) -> dict[str, Any]:
    primary = raw.get("CidrBlock", "")
    secondary = [
        item["CidrBlock"]
        for item in raw.get("CidrBlockAssociationSet", [])
        if item.get("CidrBlock")
        and item["CidrBlock"] != primary
        and item.get("CidrBlockState", {}).get("State", "associated") == "associated"
    ]
    ipv6 = [
        item["Ipv6CidrBlock"]
        for item in raw.get("Ipv6CidrBlockAssociationSet", [])
        if item.get("Ipv6CidrBlock")
        and item.get("Ipv6CidrBlockState", {}).get("State", "associated") == "associated"
    ]
    tags = {tag.get("Key"): tag.get("Value", "") for tag in raw.get("Tags", [])}
    return {
        "region": region,
        "vpc_id": raw["VpcId"],
        "name": tags.get("Name", ""),
        "is_default": bool(raw.get("IsDefault")),
        "primary_cidr": primary,
        "secondary_cidrs": _unique(secondary),
        "ipv6_cidrs": _unique(ipv6),
    }


_RESOURCE_TYPES = (
    ("vpc-", "VPC"),
    ("subnet-", "Subnet"),
    ("eni-", "NetworkInterface"),
    ("tgw-attach-", "TransitGatewayAttachment"),
    ("tgw-", "TransitGateway"),
)


def flow_log_resource_type(resource_id: str) -> str:
    """DescribeFlowLogs gives only the resource id; its prefix says what it is."""
    for prefix, kind in _RESOURCE_TYPES:
        if resource_id.startswith(prefix):
            return kind
    return "Other"


def parse_s3_destination(arn: str) -> tuple[str, str]:
    """`arn:aws:s3:::bucket/some/prefix` → ("bucket", "some/prefix/"); the prefix is empty or
    ends with a slash, ready to put in front of `AWSLogs/`."""
    if not arn.startswith("arn:") or ":::" not in arn:
        raise ValueError(f"not an S3 ARN: {arn!r}")
    path = arn.split(":::", 1)[1]
    bucket, _, prefix = path.partition("/")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def normalize_flow_log(raw: dict[str, Any], region: str) -> dict[str, Any]:
    destination_type = raw.get("LogDestinationType") or CLOUDWATCH
    destination = raw.get("LogDestination", "") or ""
    log_group = raw.get("LogGroupName", "") or ""
    bucket = prefix = ""
    if destination_type == S3 and destination:
        bucket, prefix = parse_s3_destination(destination)
    elif destination_type == CLOUDWATCH and not log_group and ":log-group:" in destination:
        # Real AWS gives both; moto gives LogGroupName only. Accept either.
        log_group = destination.split(":log-group:", 1)[1].removesuffix(":*")
    options = raw.get("DestinationOptions", {}) or {}
    resource_id = raw.get("ResourceId", "")
    return {
        "region": region,
        "flow_log_id": raw["FlowLogId"],
        "resource_id": resource_id,
        "resource_type": flow_log_resource_type(resource_id),
        "traffic_type": raw.get("TrafficType", "") or "",
        "destination_type": destination_type,
        "log_destination": destination,
        "log_group_name": log_group,
        "s3_bucket": bucket,
        "s3_prefix": prefix,
        "log_format": raw.get("LogFormat", "") or "",
        "file_format": options.get("FileFormat", "plain-text") or "plain-text",
        "hive_compatible_partitions": bool(options.get("HiveCompatiblePartitions", False)),
        "per_hour_partition": bool(options.get("PerHourPartition", False)),
        "status": raw.get("FlowLogStatus", "") or "",
        "deliver_logs_status": raw.get("DeliverLogsStatus", "") or "",
        "max_aggregation_interval": int(raw.get("MaxAggregationInterval") or 600),
    }


@dataclass
class RegionInventory:
    region: str
    instances: list[dict[str, Any]] = field(default_factory=list)
    vpcs: list[dict[str, Any]] = field(default_factory=list)
    flow_logs: list[dict[str, Any]] = field(default_factory=list)


def discover_region(session: boto3.Session, region: str, aws: AwsSettings) -> RegionInventory:
    """Instances, VPCs and flow logs of one region, every page of each. Raises AwsError."""
    operation = ""
    try:
        ec2 = make_client(session, "ec2", region, aws)
        inventory = RegionInventory(region=region)
        operation = "ec2:DescribeInstances"
        for reservation in _pages(ec2, "describe_instances", "Reservations", aws.page_size):
            inventory.instances.extend(
                normalize_instance(raw, region) for raw in reservation.get("Instances", [])
            )
        operation = "ec2:DescribeVpcs"
        inventory.vpcs = [
            normalize_vpc(raw, region)
            for raw in _pages(ec2, "describe_vpcs", "Vpcs", aws.page_size)
        ]
        operation = "ec2:DescribeFlowLogs"
        inventory.flow_logs = [
            normalize_flow_log(raw, region)
            for raw in _pages(ec2, "describe_flow_logs", "FlowLogs", aws.page_size)
        ]
    except (ClientError, BotoCoreError) as exc:
        raise AwsError.from_exception(exc, operation=operation) from exc
    return inventory


# ---------------------------------------------------------------- connection test


@dataclass(frozen=True)
class LogTargets:
    """Where flow logs of one region go, so the connection test can try reading them."""

    log_groups: tuple[str, ...] = ()
    s3_locations: tuple[tuple[str, str], ...] = ()  # (bucket, prefix)


def _first_byte(s3: Any, bucket: str, key: str) -> str:
    """Reads one byte; returns how the object is encrypted at rest (`aws:kms`, `AES256`...)."""
    response = s3.get_object(Bucket=bucket, Key=key, Range="bytes=0-0")
    response["Body"].read()
    return str(response.get("ServerSideEncryption") or "")


def _check(name: str, region: str, target: str, call: Any) -> tuple[dict[str, Any], Any]:
    try:
        result = call()
    except (ClientError, BotoCoreError) as exc:
        error = AwsError.from_exception(exc, operation=name)
        return (
            {
                "check": name,
                "region": region,
                "target": target,
                "ok": False,
                "code": error.code,
                "message": error.message,
            },
            None,
        )
    return (
        {"check": name, "region": region, "target": target, "ok": True, "code": "", "message": ""},
        result,
    )


def check_permissions(
    session: boto3.Session,
    regions: Iterable[str],
    aws: AwsSettings,
    known_targets: dict[str, LogTargets] | None = None,
) -> list[dict[str, Any]]:
    """The cheapest real call for each permission the portal needs, per region. Flow-log
    destinations found by DescribeFlowLogs are checked too, with those already known."""
    known_targets = known_targets or {}
    results: list[dict[str, Any]] = []
    for region in regions:
        ec2 = make_client(session, "ec2", region, aws)
        logs = make_client(session, "logs", region, aws)
        s3 = make_client(session, "s3", region, aws)
        simple = [
            ("ec2:DescribeInstances", partial(ec2.describe_instances, MaxResults=5)),
            (
                "ec2:DescribeNetworkInterfaces",
                partial(ec2.describe_network_interfaces, MaxResults=5),
            ),
            ("ec2:DescribeVpcs", partial(ec2.describe_vpcs, MaxResults=5)),
            ("ec2:DescribeSubnets", partial(ec2.describe_subnets, MaxResults=5)),
        ]
        for name, call in simple:
            results.append(_check(name, region, "", call)[0])
        outcome, flow_logs = _check(
            "ec2:DescribeFlowLogs", region, "", partial(ec2.describe_flow_logs, MaxResults=1000)
        )
        results.append(outcome)
        results.append(
            _check(
                "logs:DescribeLogGroups", region, "", partial(logs.describe_log_groups, limit=1)
            )[0]
        )

        known = known_targets.get(region, LogTargets())
        groups = list(known.log_groups)
        locations = list(known.s3_locations)
        for raw in (flow_logs or {}).get("FlowLogs", []):
            item = normalize_flow_log(raw, region)
            if item["destination_type"] == CLOUDWATCH and item["log_group_name"]:
                groups.append(item["log_group_name"])
            elif item["destination_type"] == S3 and item["s3_bucket"]:
                locations.append((item["s3_bucket"], item["s3_prefix"]))
        for group in _unique(groups):
            results.append(
                _check(
                    "logs:DescribeLogStreams",
                    region,
                    group,
                    partial(logs.describe_log_streams, logGroupName=group, limit=1),
                )[0]
            )
            results.append(
                _check(
                    "logs:FilterLogEvents",
                    region,
                    group,
                    partial(logs.filter_log_events, logGroupName=group, limit=1),
                )[0]
            )
        for bucket, prefix in dict.fromkeys(locations):
            listing_prefix = f"{prefix}AWSLogs/"
            outcome, listing = _check(
                "s3:ListBucket",
                region,
                f"s3://{bucket}/{listing_prefix}",
                partial(s3.list_objects_v2, Bucket=bucket, Prefix=listing_prefix, MaxKeys=1),
            )
            results.append(outcome)
            contents = (listing or {}).get("Contents", [])
            if contents:
                key = contents[0]["Key"]
                outcome, encryption = _check(
                    "s3:GetObject",
                    region,
                    f"s3://{bucket}/{key}",
                    partial(_first_byte, s3, bucket, key),
                )
                results.append(outcome)
                if outcome["ok"] and encryption.startswith("aws:kms"):
                    # S3 decrypted an SSE-KMS object for the role: kms:Decrypt through S3 works.
                    results.append(
                        {
                            "check": "kms:Decrypt",
                            "region": region,
                            "target": f"s3://{bucket}/{key}",
                            "ok": True,
                            "code": "",
                            "message": "",
                        }
                    )
    return results
