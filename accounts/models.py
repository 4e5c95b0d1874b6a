"""AWS accounts the portal reads through an assumed role, and what discovery found in them."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from accounts.choices import (
    DiscoveryStatus,
    FlowLogDestination,
    FlowLogFileFormat,
    FlowLogResourceType,
)
from accounts.querysets import AwsAccountQuerySet, DiscoveredQuerySet
from accounts.validators import (
    role_arn_account,
    validate_account_id,
    validate_athena_database,
    validate_athena_workgroup,
    validate_regions,
    validate_role_arn,
    validate_s3_location,
    validate_scan_limit,
)


def new_external_id() -> str:
    """A fresh external ID for a role's trust policy (AWS allows [\\w+=,.@:/-], 2-1224 chars)."""
    return "flp-" + secrets.token_urlsafe(24)


class AwsAccount(models.Model):
    """A customer account: the role the portal assumes there, its regions and the last test."""

    name = models.CharField(max_length=100, unique=True)
    account_id = models.CharField("account ID", max_length=12, validators=[validate_account_id])
    role_arn = models.CharField("role ARN", max_length=2048, validators=[validate_role_arn])
    external_id = models.CharField(
        "external ID", max_length=128, unique=True, default=new_external_id, editable=False
    )
    regions = models.JSONField(default=list, validators=[validate_regions])
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    discovered_at = models.DateTimeField(null=True, blank=True)
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_result = models.JSONField(default=dict, blank=True)

    # Athena pushdown: analyses of S3 flow logs can run in Athena in this account.
    athena_enabled = models.BooleanField(
        "run analyses in Athena",
        default=False,
        help_text="Let runs over S3 flow logs query them in Athena instead of downloading them.",
    )
    athena_workgroup = models.CharField(
        "Athena workgroup",
        max_length=128,
        blank=True,
        default="primary",
        validators=[validate_athena_workgroup],
        help_text="Empty means primary.",
    )
    athena_output_location = models.CharField(
        "Athena output location",
        max_length=1024,
        blank=True,
        validators=[validate_s3_location],
        help_text="s3://bucket/prefix/ for query results; empty uses the workgroup's own.",
    )
    athena_database = models.CharField(
        "Athena database",
        max_length=255,
        blank=True,
        default="flowlog_portal",
        validators=[validate_athena_database],
        help_text="Glue database the portal creates its flow-log tables in.",
    )
    athena_scan_limit_bytes = models.PositiveBigIntegerField(
        "Athena scan limit per run (bytes)",
        null=True,
        blank=True,
        validators=[validate_scan_limit],
        help_text="A run stops its queries once they have scanned this much, e.g. "
        "100000000000 for 100 GB.",
    )

    objects = AwsAccountQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "AWS account"

    def __str__(self) -> str:
        return f"{self.name} ({self.account_id})"

    def get_absolute_url(self) -> str:
        return reverse("accounts:detail", args=[self.pk])

    def clean(self) -> None:
        errors: dict[str, str] = {}
        arn_account = role_arn_account(self.role_arn)
        if arn_account and self.account_id and arn_account != self.account_id:
            errors["role_arn"] = (
                f"The role belongs to account {arn_account}, not to {self.account_id}; "
                "the role must be in the account being registered."
            )
        if self.athena_enabled:
            if not self.athena_database:
                errors["athena_database"] = (
                    "Athena needs a database for the flow-log tables, e.g. flowlog_portal."
                )
            if self.athena_scan_limit_bytes is None:
                errors["athena_scan_limit_bytes"] = (
                    "Set a scan limit per run before enabling Athena, so no run can scan "
                    "(and bill) without bound."
                )
        if errors:
            raise ValidationError(errors)

    @property
    def athena_settings(self) -> dict[str, Any]:
        """The Athena settings as plain values, for runs and audit events."""
        return {
            "enabled": self.athena_enabled,
            "workgroup": self.athena_workgroup or "primary",
            "output_location": self.athena_output_location,
            "database": self.athena_database,
            "scan_limit_bytes": self.athena_scan_limit_bytes,
        }


class RegionDiscovery(models.Model):
    """When discovery last ran for one account and region, and how it went."""

    account = models.ForeignKey(AwsAccount, on_delete=models.CASCADE, related_name="discoveries")
    region = models.CharField(max_length=32)
    status = models.CharField(max_length=8, choices=DiscoveryStatus.choices)
    attempted_at = models.DateTimeField()
    refreshed_at = models.DateTimeField(
        null=True, blank=True, help_text="Last successful refresh; the cached rows are this old."
    )
    error = models.TextField(blank=True)
    instance_count = models.PositiveIntegerField(default=0)
    vpc_count = models.PositiveIntegerField(default=0)
    flow_log_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["account", "region"]
        constraints = [
            models.UniqueConstraint(fields=["account", "region"], name="one_discovery_per_region")
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.region}: {self.status}"


class DiscoveredResource(models.Model):
    """Fields every discovered row has: whose, which region, when it was read."""

    account = models.ForeignKey(AwsAccount, on_delete=models.CASCADE, related_name="+")
    region = models.CharField(max_length=32)
    refreshed_at = models.DateTimeField()

    objects = DiscoveredQuerySet.as_manager()

    class Meta:
        abstract = True


class Vpc(DiscoveredResource):
    account = models.ForeignKey(AwsAccount, on_delete=models.CASCADE, related_name="vpcs")
    vpc_id = models.CharField("VPC ID", max_length=32)
    name = models.CharField(max_length=255, blank=True)
    is_default = models.BooleanField(default=False)
    primary_cidr = models.CharField("primary CIDR", max_length=64, blank=True)
    secondary_cidrs = models.JSONField(default=list, blank=True)
    ipv6_cidrs = models.JSONField("IPv6 CIDRs", default=list, blank=True)

    class Meta:
        ordering = ["region", "vpc_id"]
        verbose_name = "VPC"
        constraints = [
            models.UniqueConstraint(fields=["account", "region", "vpc_id"], name="unique_vpc")
        ]

    def __str__(self) -> str:
        return f"{self.vpc_id}{f' ({self.name})' if self.name else ''}"

    @property
    def cidrs(self) -> list[str]:
        """Every CIDR block: primary, secondary, IPv6."""
        primary = [self.primary_cidr] if self.primary_cidr else []
        return [*primary, *self.secondary_cidrs, *self.ipv6_cidrs]


class Instance(DiscoveredResource):
    account = models.ForeignKey(AwsAccount, on_delete=models.CASCADE, related_name="instances")
    instance_id = models.CharField("instance ID", max_length=32)
    name = models.CharField(max_length=255, blank=True, db_index=True)
    state = models.CharField(max_length=32, blank=True)
    private_ips = models.JSONField("private IPv4 addresses", default=list, blank=True)
    ipv6_addresses = models.JSONField("IPv6 addresses", default=list, blank=True)
    public_ips = models.JSONField("public IPv4 addresses", default=list, blank=True)
    interfaces = models.JSONField(default=list, blank=True)
    vpc_id = models.CharField("VPC ID", max_length=32, blank=True)
    subnet_id = models.CharField("subnet ID", max_length=32, blank=True)
    subnet_ids = models.JSONField(
        "subnet IDs", default=list, blank=True, help_text="The subnets of all its interfaces"
    )

    class Meta:
        ordering = ["region", "name", "instance_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "region", "instance_id"], name="unique_instance"
            )
        ]

    def __str__(self) -> str:
        return f"{self.instance_id}{f' ({self.name})' if self.name else ''}"

    @property
    def addresses(self) -> list[str]:
        return [*self.private_ips, *self.ipv6_addresses, *self.public_ips]


class FlowLogConfig(DiscoveredResource):
    account = models.ForeignKey(AwsAccount, on_delete=models.CASCADE, related_name="flow_logs")
    flow_log_id = models.CharField("flow log ID", max_length=32)
    resource_id = models.CharField("resource ID", max_length=64)
    resource_type = models.CharField(max_length=32, choices=FlowLogResourceType.choices)
    traffic_type = models.CharField(max_length=16, blank=True)
    destination_type = models.CharField(max_length=32, choices=FlowLogDestination.choices)
    log_destination = models.CharField(max_length=2048, blank=True)
    log_group_name = models.CharField(max_length=512, blank=True)
    s3_bucket = models.CharField("S3 bucket", max_length=63, blank=True)
    s3_prefix = models.CharField("S3 prefix", max_length=1024, blank=True)
    log_format = models.TextField(blank=True)
    file_format = models.CharField(
        max_length=16, choices=FlowLogFileFormat.choices, default=FlowLogFileFormat.TEXT
    )
    hive_compatible_partitions = models.BooleanField(default=False)
    per_hour_partition = models.BooleanField(default=False)
    status = models.CharField(max_length=16, blank=True)
    deliver_logs_status = models.CharField(max_length=16, blank=True)
    max_aggregation_interval = models.PositiveIntegerField(default=600)

    class Meta:
        ordering = ["region", "flow_log_id"]
        verbose_name = "flow log"
        constraints = [
            models.UniqueConstraint(
                fields=["account", "region", "flow_log_id"], name="unique_flow_log"
            )
        ]

    def __str__(self) -> str:
        return f"{self.flow_log_id} → {self.destination}"

    @property
    def destination(self) -> str:
        if self.destination_type == FlowLogDestination.S3:
            return f"s3://{self.s3_bucket}/{self.s3_prefix}"
        if self.destination_type == FlowLogDestination.CLOUDWATCH:
            return self.log_group_name
        return self.log_destination

    def to_dict(self) -> dict[str, Any]:
        from accounts.choices import RUN_SOURCE_OF_DESTINATION

        return {
            "flow_log_id": self.flow_log_id,
            "region": self.region,
            "resource_id": self.resource_id,
            "resource_type": self.resource_type,
            "source": RUN_SOURCE_OF_DESTINATION.get(self.destination_type, ""),
            "destination_type": self.destination_type,
            "log_group_name": self.log_group_name,
            "s3_bucket": self.s3_bucket,
            "s3_prefix": self.s3_prefix,
            "log_format": self.log_format,
            "file_format": self.file_format,
            "hive_compatible_partitions": self.hive_compatible_partitions,
            "per_hour_partition": self.per_hour_partition,
            "status": self.status,
        }
