"""API representations of AWS accounts and what discovery found; read-only."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import AwsAccount, FlowLogConfig, Instance, RegionDiscovery, Vpc


class RegionDiscoverySerializer(serializers.ModelSerializer):
    class Meta:
        model = RegionDiscovery
        fields = [
            "region",
            "status",
            "attempted_at",
            "refreshed_at",
            "error",
            "instance_count",
            "vpc_count",
            "flow_log_count",
        ]
        read_only_fields = fields


class VpcSerializer(serializers.ModelSerializer):
    class Meta:
        model = Vpc
        fields = [
            "region",
            "vpc_id",
            "name",
            "is_default",
            "primary_cidr",
            "secondary_cidrs",
            "ipv6_cidrs",
            "refreshed_at",
        ]
        read_only_fields = fields


class InstanceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Instance
        fields = [
            "region",
            "instance_id",
            "name",
            "state",
            "private_ips",
            "ipv6_addresses",
            "public_ips",
            "interfaces",
            "vpc_id",
            "subnet_id",
            "subnet_ids",
            "refreshed_at",
        ]
        read_only_fields = fields


class FlowLogConfigSerializer(serializers.ModelSerializer):
    class Meta:
        model = FlowLogConfig
        fields = [
            "region",
            "flow_log_id",
            "resource_id",
            "resource_type",
            "traffic_type",
            "destination_type",
            "log_destination",
            "log_group_name",
            "s3_bucket",
            "s3_prefix",
            "log_format",
            "file_format",
            "hive_compatible_partitions",
            "per_hour_partition",
            "status",
            "deliver_logs_status",
            "refreshed_at",
        ]
        read_only_fields = fields


class AwsAccountSerializer(serializers.ModelSerializer):
    discoveries = RegionDiscoverySerializer(many=True, read_only=True)

    class Meta:
        model = AwsAccount
        fields = [
            "id",
            "name",
            "account_id",
            "role_arn",
            "external_id",
            "regions",
            "notes",
            "created_at",
            "updated_at",
            "discovered_at",
            "last_tested_at",
            "last_test_ok",
            "athena_enabled",
            "athena_workgroup",
            "athena_output_location",
            "athena_database",
            "athena_scan_limit_bytes",
            "discoveries",
        ]
        read_only_fields = fields


class AwsAccountDetailSerializer(AwsAccountSerializer):
    vpcs = VpcSerializer(many=True, read_only=True)
    instances = InstanceSerializer(many=True, read_only=True)
    flow_logs = FlowLogConfigSerializer(many=True, read_only=True)

    class Meta(AwsAccountSerializer.Meta):
        fields = [
            *AwsAccountSerializer.Meta.fields,
            "last_test_result",
            "vpcs",
            "instances",
            "flow_logs",
        ]
        read_only_fields = fields
