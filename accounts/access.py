"""Per-object access for views and the API: 404 for what the user cannot see, 403 for what they
can see but not change."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from accounts.models import AwsAccount
from accounts.querysets import can_manage_aws_accounts


def get_account_for_user(user: Any, pk: int) -> AwsAccount:
    return get_object_or_404(AwsAccount.objects.for_user(user), pk=pk)


def get_rw_account_for_user(user: Any, pk: int) -> AwsAccount:
    account = get_account_for_user(user, pk)
    if not can_manage_aws_accounts(user):
        raise PermissionDenied("Only admins can change, test or refresh AWS accounts.")
    return account


def require_account_admin(user: Any) -> None:
    if not can_manage_aws_accounts(user):
        raise PermissionDenied("Only admins can register AWS accounts.")
