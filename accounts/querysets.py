"""Access gates for AWS accounts: who may read them (every portal role) and change them (admins)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

from portal.roles import Role, has_role, user_roles

if TYPE_CHECKING:
    from accounts.models import AwsAccount  # noqa: F401 - named in a base-class string


def can_manage_aws_accounts(user: Any) -> bool:
    """Admins register, change, test and refresh AWS accounts."""
    return has_role(user, Role.ADMIN)


def can_view_aws_accounts(user: Any) -> bool:
    """Every portal role reads accounts: analysts pick them for runs, managers review them."""
    return bool(user_roles(user))


class AwsAccountQuerySet(models.QuerySet["AwsAccount"]):
    def for_user(self, user: Any) -> AwsAccountQuerySet:
        return self if can_view_aws_accounts(user) else self.none()

    def writable_by(self, user: Any) -> AwsAccountQuerySet:
        return self if can_manage_aws_accounts(user) else self.none()


class DiscoveredQuerySet(models.QuerySet[Any]):
    def for_user(self, user: Any) -> DiscoveredQuerySet:
        from accounts.models import AwsAccount as Account  # models import this module

        return self.filter(account__in=Account.objects.for_user(user).values("pk"))
