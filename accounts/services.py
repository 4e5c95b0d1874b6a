"""Every change to AWS accounts and every use of their credentials goes through these functions,
with its audit event. Views, the API, tasks and management commands all call them.

`user=None` means the system itself (a management command or a Celery task started without a
user); views and the API always pass the requesting user.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.choices import (
    COVERAGE_ORDER,
    RUN_SOURCE_OF_DESTINATION,
    DiscoveryStatus,
    FlowLogDestination,
)
from accounts.conf import portal_aws_settings
from accounts.models import AwsAccount, FlowLogConfig, Instance, RegionDiscovery, Vpc
from accounts.querysets import can_manage_aws_accounts
from analysis import aws
from portal import audit

SEARCH_LIMIT = 20
ATHENA_FIELDS = (
    "athena_enabled",
    "athena_workgroup",
    "athena_output_location",
    "athena_database",
    "athena_scan_limit_bytes",
)
_ACCOUNT_FIELDS = ("name", "account_id", "role_arn", "regions", "notes", *ATHENA_FIELDS)


class InstanceNotFound(LookupError):
    """No discovered instance matches the search."""


class AmbiguousInstance(LookupError):
    """Several discovered instances match; `candidates` lists them."""

    def __init__(self, message: str, candidates: list[Instance]) -> None:
        super().__init__(message)
        self.candidates = candidates


def _check_admin(user: Any) -> None:
    if user is not None and not can_manage_aws_accounts(user):
        raise PermissionDenied("Only admins can change, test or refresh AWS accounts.")


def _username(user: Any) -> str:
    return user.get_username() if user is not None else "system"


# ---------------------------------------------------------------- accounts


def create_account(
    *,
    user: Any,
    name: str,
    account_id: str,
    role_arn: str,
    regions: Sequence[str],
    notes: str = "",
    client_ip: str | None = None,
    api_token_id: int | None = None,
    **athena: Any,
) -> AwsAccount:
    """Validates like the form does (ValidationError with per-field messages). `athena` holds
    any of the Athena settings (ATHENA_FIELDS)."""
    _check_admin(user)
    unknown = set(athena) - set(ATHENA_FIELDS)
    if unknown:
        raise TypeError(f"Unknown AWS account setting(s): {', '.join(sorted(unknown))}.")
    account = AwsAccount(
        name=name,
        account_id=account_id,
        role_arn=role_arn,
        regions=list(regions),
        notes=notes,
        **athena,
    )
    account.full_clean()
    with transaction.atomic():
        account.save()
        _audit(
            user,
            "aws_account.created",
            account,
            client_ip,
            api_token_id,
            details={
                field: getattr(account, field) for field in _ACCOUNT_FIELDS if field != "notes"
            },
        )
    return account


def _audit(
    user: Any,
    action: str,
    account: AwsAccount,
    client_ip: str | None,
    api_token_id: int | None,
    *,
    details: dict[str, Any],
) -> None:
    """One audit event by `user` about `account`, from the request's address or API token."""
    audit.record(
        actor=user,
        action=action,
        target=account,
        details=details,
        client_ip=client_ip,
        api_token_id=api_token_id,
    )


def update_account(
    *,
    user: Any,
    account: AwsAccount,
    client_ip: str | None = None,
    api_token_id: int | None = None,
    **changes: Any,
) -> AwsAccount:
    """Change any of name, account_id, role_arn, regions, notes and the Athena settings; the
    audit event lists what changed."""
    _check_admin(user)
    unknown = set(changes) - set(_ACCOUNT_FIELDS)
    if unknown:
        raise TypeError(f"Cannot change {', '.join(sorted(unknown))} of an AWS account.")
    before = {field: getattr(account, field) for field in _ACCOUNT_FIELDS}
    for name, value in changes.items():
        setattr(account, name, list(value) if name == "regions" else value)
    account.full_clean()
    changed = {
        field: {"from": before[field], "to": getattr(account, field)}
        for field in _ACCOUNT_FIELDS
        if before[field] != getattr(account, field)
    }
    with transaction.atomic():
        account.save()
        _audit(
            user,
            "aws_account.updated",
            account,
            client_ip,
            api_token_id,
            details={"changed": changed},
        )
    if "role_arn" in changed:
        aws.clear_session_cache()
    return account


def delete_account(
    *,
    user: Any,
    account: AwsAccount,
    client_ip: str | None = None,
    api_token_id: int | None = None,
) -> None:
    _check_admin(user)
    with transaction.atomic():
        _audit(
            user,
            "aws_account.deleted",
            account,
            client_ip,
            api_token_id,
            details={
                "name": account.name,
                "account_id": account.account_id,
                "role_arn": account.role_arn,
            },
        )
        account.delete()


# ---------------------------------------------------------------- credentials


def assume_account_role(
    *,
    user: Any,
    account: AwsAccount,
    purpose: str,
    aws_settings: aws.AwsSettings | None = None,
    client_ip: str | None = None,
    api_token_id: int | None = None,
) -> aws.RoleSession:
    """Assume the account's role as `portal-<user>`; every use, cached or not, failed or not, is
    an audit event. Raises aws.AwsError."""
    settings = aws_settings or portal_aws_settings()
    session_name = aws.role_session_name(_username(user))
    details: dict[str, Any] = {
        "purpose": purpose,
        "role_arn": account.role_arn,
        "session_name": session_name,
    }
    try:
        role = aws.assume_role(
            role_arn=account.role_arn,
            external_id=account.external_id,
            session_name=session_name,
            aws=settings,
        )
    except aws.AwsError as exc:
        details.update(ok=False, code=exc.code, message=exc.message[:500])
        with transaction.atomic():
            _audit(
                user,
                "aws_account.role_assumed",
                account,
                client_ip,
                api_token_id,
                details=details,
            )
        raise
    details.update(
        ok=True,
        from_cache=role.from_cache,
        assumed_role_arn=role.assumed_role_arn,
        expires_at=role.expires_at.isoformat(),
    )
    with transaction.atomic():
        _audit(
            user,
            "aws_account.role_assumed",
            account,
            client_ip,
            api_token_id,
            details=details,
        )
    return role


def _known_targets(account: AwsAccount) -> dict[str, aws.LogTargets]:
    targets: dict[str, tuple[list[str], list[tuple[str, str]]]] = {}
    for flow_log in FlowLogConfig.objects.filter(account=account):
        groups, locations = targets.setdefault(flow_log.region, ([], []))
        if flow_log.destination_type == FlowLogDestination.CLOUDWATCH and flow_log.log_group_name:
            groups.append(flow_log.log_group_name)
        elif flow_log.destination_type == FlowLogDestination.S3 and flow_log.s3_bucket:
            locations.append((flow_log.s3_bucket, flow_log.s3_prefix))
    return {
        region: aws.LogTargets(tuple(groups), tuple(locations))
        for region, (groups, locations) in targets.items()
    }


def run_connection_test(
    *,
    user: Any,
    account: AwsAccount,
    aws_settings: aws.AwsSettings | None = None,
    client_ip: str | None = None,
    api_token_id: int | None = None,
) -> dict[str, Any]:
    """Assume the role, show who the portal is there, try each permission it needs; the result
    is stored on the account and returned."""
    _check_admin(user)
    settings = aws_settings or portal_aws_settings()
    now = timezone.now()
    result: dict[str, Any] = {
        "tested_at": now.isoformat(),
        "ok": False,
        "role_arn": account.role_arn,
        "session_name": aws.role_session_name(_username(user)),
        "assumed_role_arn": "",
        "identity": None,
        "error": None,
        "checks": [],
    }
    try:
        role = assume_account_role(
            user=user,
            account=account,
            purpose="connection test",
            aws_settings=settings,
            client_ip=client_ip,
            api_token_id=api_token_id,
        )
    except aws.AwsError as exc:
        result["error"] = {"code": exc.code, "message": exc.message}
        result["checks"].append(
            {
                "check": "sts:AssumeRole",
                "region": "",
                "target": account.role_arn,
                "ok": False,
                "code": exc.code,
                "message": exc.message,
            }
        )
    else:
        result["assumed_role_arn"] = role.assumed_role_arn
        result["checks"].append(
            {
                "check": "sts:AssumeRole",
                "region": "",
                "target": account.role_arn,
                "ok": True,
                "code": "",
                "message": "",
            }
        )
        try:
            result["identity"] = aws.caller_identity(role.session, settings)
            result["checks"].append(
                {
                    "check": "sts:GetCallerIdentity",
                    "region": "",
                    "target": "",
                    "ok": True,
                    "code": "",
                    "message": "",
                }
            )
        except aws.AwsError as exc:
            result["checks"].append(
                {
                    "check": "sts:GetCallerIdentity",
                    "region": "",
                    "target": "",
                    "ok": False,
                    "code": exc.code,
                    "message": exc.message,
                }
            )
        result["checks"].extend(
            aws.check_permissions(role.session, account.regions, settings, _known_targets(account))
        )
        result["ok"] = all(check["ok"] for check in result["checks"])
    failed = [
        f"{c['check']} {c['region']} {c['target']}".strip() for c in result["checks"] if not c["ok"]
    ]
    with transaction.atomic():
        AwsAccount.objects.filter(pk=account.pk).update(
            last_tested_at=now, last_test_ok=result["ok"], last_test_result=result
        )
        _audit(
            user,
            "aws_account.connection_tested",
            account,
            client_ip,
            api_token_id,
            details={
                "ok": result["ok"],
                "checks": len(result["checks"]),
                "failed": failed,
                "identity": (result["identity"] or {}).get("Arn", ""),
            },
        )
    account.last_tested_at, account.last_test_ok = now, result["ok"]
    account.last_test_result = result
    return result


# ---------------------------------------------------------------- discovery


@dataclass
class DiscoveryResult:
    account: int
    refreshed_at: str
    regions: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(item["status"] == DiscoveryStatus.OK for item in self.regions.values())

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def summary(self) -> str:
        parts = []
        for region, item in self.regions.items():
            if item["status"] == DiscoveryStatus.OK:
                parts.append(
                    f"{region}: {item['instances']} instances, {item['vpcs']} VPCs, "
                    f"{item['flow_logs']} flow logs"
                )
            else:
                parts.append(f"{region}: failed ({item['error']})")
        return "; ".join(parts)


def refresh_discovery(
    *,
    user: Any,
    account: AwsAccount,
    regions: Sequence[str] | None = None,
    aws_settings: aws.AwsSettings | None = None,
    client_ip: str | None = None,
    api_token_id: int | None = None,
) -> DiscoveryResult:
    """Read instances, VPCs and flow logs of each region, then replace that region's cached rows
    in one transaction. A region that fails keeps its previous rows and records the error."""
    _check_admin(user)
    settings = aws_settings or portal_aws_settings()
    wanted = list(regions) if regions else list(account.regions)
    inventories: dict[str, aws.RegionInventory] = {}
    errors: dict[str, str] = {}
    try:
        role = assume_account_role(
            user=user,
            account=account,
            purpose="discovery",
            aws_settings=settings,
            client_ip=client_ip,
            api_token_id=api_token_id,
        )
    except aws.AwsError as exc:
        errors = {region: f"{exc.code}: {exc.message}" for region in wanted}
    else:
        for region in wanted:
            try:
                inventories[region] = aws.discover_region(role.session, region, settings)
            except aws.AwsError as exc:
                errors[region] = f"{exc.operation} {exc.code}: {exc.message}".strip()

    now = timezone.now()
    result = DiscoveryResult(account=account.pk, refreshed_at=now.isoformat())
    with transaction.atomic():
        for region, inventory in inventories.items():
            _replace_region(account, inventory, now)
            RegionDiscovery.objects.update_or_create(
                account=account,
                region=region,
                defaults={
                    "status": DiscoveryStatus.OK,
                    "attempted_at": now,
                    "refreshed_at": now,
                    "error": "",
                    "instance_count": len(inventory.instances),
                    "vpc_count": len(inventory.vpcs),
                    "flow_log_count": len(inventory.flow_logs),
                },
            )
            result.regions[region] = {
                "status": DiscoveryStatus.OK,
                "error": "",
                "instances": len(inventory.instances),
                "vpcs": len(inventory.vpcs),
                "flow_logs": len(inventory.flow_logs),
            }
        for region, error in errors.items():
            RegionDiscovery.objects.update_or_create(
                account=account,
                region=region,
                defaults={
                    "status": DiscoveryStatus.FAILED,
                    "attempted_at": now,
                    "error": error[:2000],
                },
            )
            result.regions[region] = {
                "status": DiscoveryStatus.FAILED,
                "error": error,
                "instances": 0,
                "vpcs": 0,
                "flow_logs": 0,
            }
        if regions is None:
            # Regions no longer configured on the account: drop what was cached for them.
            for model in (Instance, Vpc, FlowLogConfig, RegionDiscovery):
                model.objects.filter(account=account).exclude(  # type: ignore[attr-defined]
                    region__in=wanted
                ).delete()
        if inventories:
            AwsAccount.objects.filter(pk=account.pk).update(discovered_at=now)
            account.discovered_at = now
        _audit(
            user,
            "aws_account.discovery_refreshed",
            account,
            client_ip,
            api_token_id,
            details={"ok": result.ok, "regions": result.regions},
        )
    return result


def _replace_region(account: AwsAccount, inventory: aws.RegionInventory, now: Any) -> None:
    region = inventory.region
    for model in (Instance, Vpc, FlowLogConfig):
        model.objects.filter(account=account, region=region).delete()  # type: ignore[attr-defined]
    Vpc.objects.bulk_create(
        Vpc(account=account, refreshed_at=now, **item) for item in inventory.vpcs
    )
    Instance.objects.bulk_create(
        Instance(account=account, refreshed_at=now, **item) for item in inventory.instances
    )
    FlowLogConfig.objects.bulk_create(
        FlowLogConfig(account=account, refreshed_at=now, **item) for item in inventory.flow_logs
    )


# ---------------------------------------------------------------- resolver for the run form


@dataclass
class InstanceTarget:
    """What a run needs to know about one instance: its addresses, its VPC's ranges and the
    flow log to read (the most specific one covering it: interface, then subnet, then VPC)."""

    account: int
    region: str
    instance_id: str
    name: str
    state: str
    private_ips: list[str]
    ipv6_addresses: list[str]
    public_ips: list[str]
    interfaces: list[str]
    vpc_id: str
    subnet_id: str
    subnet_ids: list[str]
    vpc_cidrs: list[str]
    flow_log: dict[str, Any] | None
    flow_logs: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Resolver:
    """Loads an account's VPCs and readable flow logs once, then resolves many instances."""

    def __init__(self, account: AwsAccount) -> None:
        self.account = account
        self.vpcs = {(v.region, v.vpc_id): v for v in Vpc.objects.filter(account=account)}
        self.flow_logs = list(
            FlowLogConfig.objects.filter(
                account=account, destination_type__in=list(RUN_SOURCE_OF_DESTINATION)
            )
        )

    def covering(self, instance: Instance) -> list[FlowLogConfig]:
        wanted: dict[str, set[str]] = {
            COVERAGE_ORDER[0]: set(instance.interfaces),
            COVERAGE_ORDER[1]: {instance.subnet_id, *instance.subnet_ids} - {""},
            COVERAGE_ORDER[2]: {instance.vpc_id},
        }
        matches = [
            f
            for f in self.flow_logs
            if f.region == instance.region and f.resource_id in wanted.get(f.resource_type, set())
        ]
        destinations = list(RUN_SOURCE_OF_DESTINATION)
        # Most specific resource first; active before inactive; CloudWatch before S3.
        matches.sort(
            key=lambda f: (
                COVERAGE_ORDER.index(f.resource_type),
                f.status not in ("", "ACTIVE"),
                destinations.index(f.destination_type),
                f.flow_log_id,
            )
        )
        return matches

    def resolve(self, instance: Instance) -> InstanceTarget:
        vpc = self.vpcs.get((instance.region, instance.vpc_id))
        covering = [f.to_dict() for f in self.covering(instance)]
        return InstanceTarget(
            account=self.account.pk,
            region=instance.region,
            instance_id=instance.instance_id,
            name=instance.name,
            state=instance.state,
            private_ips=list(instance.private_ips),
            ipv6_addresses=list(instance.ipv6_addresses),
            public_ips=list(instance.public_ips),
            interfaces=list(instance.interfaces),
            vpc_id=instance.vpc_id,
            subnet_id=instance.subnet_id,
            subnet_ids=list(instance.subnet_ids) or [s for s in [instance.subnet_id] if s],
            vpc_cidrs=vpc.cidrs if vpc else [],
            flow_log=covering[0] if covering else None,
            flow_logs=covering,
        )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def find_instances(*, account: AwsAccount, query: str) -> list[Instance]:
    """Instances whose id or Name tag contains `query` (or that hold it as an address)."""
    query = query.strip()
    instances = Instance.objects.filter(account=account).order_by("name", "instance_id")
    if not query:
        return list(instances)
    if _is_ip(query):
        return [i for i in instances if query in i.addresses]
    return list(instances.filter(Q(instance_id__icontains=query) | Q(name__icontains=query)))


def search_instances(
    *, user: Any, account: AwsAccount, query: str, limit: int = SEARCH_LIMIT
) -> tuple[list[InstanceTarget], int]:
    """Resolved matches for an instance picker, at most `limit`; also the total count, so the
    caller can say when the list was cut. `user` must be able to read the account."""
    if user is not None and not AwsAccount.objects.for_user(user).filter(pk=account.pk).exists():
        raise PermissionDenied("You cannot read this AWS account.")
    matches = find_instances(account=account, query=query)
    resolver = _Resolver(account)
    return [resolver.resolve(instance) for instance in matches[:limit]], len(matches)


def resolve_instance(*, user: Any, account: AwsAccount, query: str) -> InstanceTarget:
    """One instance by exact id, exact Name tag, address, or a unique partial match."""
    if user is not None and not AwsAccount.objects.for_user(user).filter(pk=account.pk).exists():
        raise PermissionDenied("You cannot read this AWS account.")
    query = query.strip()
    if not query:
        raise InstanceNotFound("Give an instance id, Name tag or address.")
    instances = Instance.objects.filter(account=account)
    exact = list(instances.filter(instance_id=query)) or list(instances.filter(name__iexact=query))
    candidates = exact or find_instances(account=account, query=query)
    if not candidates:
        raise InstanceNotFound(f"No discovered instance matches {query!r}; refresh discovery?")
    if len(candidates) > 1:
        names = ", ".join(str(i) for i in candidates[:10])
        raise AmbiguousInstance(f"{len(candidates)} instances match {query!r}: {names}", candidates)
    return _Resolver(account).resolve(candidates[0])
