"""Admin for portal records: the audit log is read-only here as everywhere."""

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest, HttpResponse

from portal.auth_audit import changes_made_by
from portal.models import ApiToken, AuditEvent


class ChangesMadeByRequestUser(admin.ModelAdmin):
    """User and role changes made here are audited as made by the signed-in admin, from their
    address (portal.auth_audit records them)."""

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with changes_made_by(request):
            return super().changeform_view(request, *args, **kwargs)

    def delete_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with changes_made_by(request):
            return super().delete_view(request, *args, **kwargs)

    def changelist_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with changes_made_by(request):  # bulk actions (delete selected) and list edits
            return super().changelist_view(request, *args, **kwargs)


class AuditedUserAdmin(ChangesMadeByRequestUser, UserAdmin):
    def user_change_password(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with changes_made_by(request):
            return super().user_change_password(request, *args, **kwargs)


class AuditedGroupAdmin(ChangesMadeByRequestUser, GroupAdmin):
    pass


for _model, _admin in ((get_user_model(), AuditedUserAdmin), (Group, AuditedGroupAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _admin)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor_name", "action", "target_type", "target_repr", "client_ip")
    list_filter = ("action", "target_type")
    search_fields = ("actor_name", "action", "target_repr")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "scopes", "created_at", "expires_at", "revoked_at")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens are created by the command or page that shows the secret once
