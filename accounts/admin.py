"""Admin for AWS accounts (read-mostly: changes belong to the pages, which audit them)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from accounts.models import AwsAccount, FlowLogConfig, Instance, RegionDiscovery, Vpc


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AwsAccount)
class AwsAccountAdmin(_ReadOnlyAdmin):
    list_display = (
        "name",
        "account_id",
        "role_arn",
        "discovered_at",
        "last_tested_at",
        "last_test_ok",
    )
    search_fields = ("name", "account_id", "role_arn")


@admin.register(RegionDiscovery)
class RegionDiscoveryAdmin(_ReadOnlyAdmin):
    list_display = ("account", "region", "status", "attempted_at", "refreshed_at")


@admin.register(Instance)
class InstanceAdmin(_ReadOnlyAdmin):
    list_display = ("instance_id", "name", "account", "region", "state", "vpc_id")
    search_fields = ("instance_id", "name")


@admin.register(Vpc)
class VpcAdmin(_ReadOnlyAdmin):
    list_display = ("vpc_id", "name", "account", "region", "primary_cidr")


@admin.register(FlowLogConfig)
class FlowLogConfigAdmin(_ReadOnlyAdmin):
    list_display = ("flow_log_id", "account", "region", "resource_id", "destination_type", "status")
