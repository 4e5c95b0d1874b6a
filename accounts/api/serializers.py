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


class ConnectionCheckSerializer(serializers.Serializer):
    check = serializers.CharField(help_text="The IAM action tried, e.g. `ec2:DescribeVpcs`.")
    region = serializers.CharField(allow_blank=True)
    target = serializers.CharField(allow_blank=True, help_text="Log group or S3 location.")
    ok = serializers.BooleanField()
    code = serializers.CharField(allow_blank=True, help_text="AWS error code when it failed.")
    message = serializers.CharField(allow_blank=True)


class CallerIdentitySerializer(serializers.Serializer):
    Account = serializers.CharField()
    Arn = serializers.CharField()
    UserId = serializers.CharField()


class AwsErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ConnectionTestSerializer(serializers.Serializer):
    """Documents the result of a connection test (also kept as `last_test_result`)."""

    tested_at = serializers.DateTimeField()
    ok = serializers.BooleanField()
    role_arn = serializers.CharField()
    session_name = serializers.CharField()
    assumed_role_arn = serializers.CharField(allow_blank=True)
    identity = CallerIdentitySerializer(allow_null=True)
    error = AwsErrorSerializer(allow_null=True, help_text="Why the role could not be assumed.")
    checks = ConnectionCheckSerializer(many=True)


class RegionRefreshSerializer(serializers.Serializer):
    status = serializers.CharField()
    error = serializers.CharField(allow_blank=True)
    instances = serializers.IntegerField()
    vpcs = serializers.IntegerField()
    flow_logs = serializers.IntegerField()


class DiscoveryResultSerializer(serializers.Serializer):
    """Documents the result of a discovery refresh, per region."""

    account = serializers.IntegerField()
    refreshed_at = serializers.DateTimeField()
    regions = serializers.DictField(child=RegionRefreshSerializer())
    ok = serializers.BooleanField()


class FlowLogTargetSerializer(serializers.Serializer):
    flow_log_id = serializers.CharField()
    region = serializers.CharField()
    resource_id = serializers.CharField()
    resource_type = serializers.CharField()
    source = serializers.CharField(help_text="The run source that reads it: `cloudwatch`, `s3`.")
    destination_type = serializers.CharField()
    log_group_name = serializers.CharField(allow_blank=True)
    s3_bucket = serializers.CharField(allow_blank=True)
    s3_prefix = serializers.CharField(allow_blank=True)
    log_format = serializers.CharField(allow_blank=True)
    file_format = serializers.CharField(allow_blank=True)
    hive_compatible_partitions = serializers.BooleanField()
    per_hour_partition = serializers.BooleanField()
    status = serializers.CharField(allow_blank=True)


class InstanceTargetSerializer(serializers.Serializer):
    account = serializers.IntegerField()
    region = serializers.CharField()
    instance_id = serializers.CharField()
    name = serializers.CharField(allow_blank=True)
    state = serializers.CharField(allow_blank=True)
    private_ips = serializers.ListField(child=serializers.CharField())
    ipv6_addresses = serializers.ListField(child=serializers.CharField())
    public_ips = serializers.ListField(child=serializers.CharField())
    interfaces = serializers.ListField(child=serializers.CharField())
    vpc_id = serializers.CharField(allow_blank=True)
    subnet_id = serializers.CharField(allow_blank=True)
    subnet_ids = serializers.ListField(child=serializers.CharField())
    vpc_cidrs = serializers.ListField(child=serializers.CharField())
    flow_log = FlowLogTargetSerializer(allow_null=True, help_text="The flow log to read.")
    flow_logs = FlowLogTargetSerializer(many=True, help_text="Every flow log covering it.")


class InstanceSearchSerializer(serializers.Serializer):
    """Documents an instance search."""

    account = serializers.IntegerField()
    query = serializers.CharField(allow_blank=True)
    count = serializers.IntegerField()
    truncated = serializers.BooleanField()
    results = InstanceTargetSerializer(many=True)


class RoleSetupSerializer(serializers.Serializer):
    """Documents the paste-ready role of an account."""

    account = serializers.IntegerField()
    role_arn = serializers.CharField()
    external_id = serializers.CharField()
    principal = serializers.CharField(help_text="The ARN the role trusts: the portal's own.")
    principal_source = serializers.ChoiceField(
        choices=["setting", "sts", "placeholder"],
        help_text="PORTAL_AWS_PRINCIPAL_ARN, sts:GetCallerIdentity, or a placeholder to replace.",
    )
    principal_note = serializers.CharField()
    notes = serializers.ListField(
        child=serializers.CharField(), help_text="What to do before deploying, if anything."
    )
    trust_policy = serializers.DictField(help_text="IAM policy document.")
    permission_policy = serializers.DictField(help_text="IAM policy document.")
    cloudformation_yaml = serializers.CharField()
    cloudformation_json = serializers.CharField()
    terraform = serializers.CharField()
