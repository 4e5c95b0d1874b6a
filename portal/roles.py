"""Roles are groups created by a migration; these helpers are the only code that reads them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Role(StrEnum):
    ANALYST = "analyst"
    MANAGER = "manager"
    ADMIN = "admin"


ROLE_DESCRIPTIONS = {
    Role.ANALYST: "Creates investigations and runs; sees own and shared investigations.",
    Role.MANAGER: "Reads every investigation, run and audit record; changes nothing.",
    Role.ADMIN: "Manages users, AWS accounts and reference tables.",
}


def role_group(role: Role | str) -> Any:
    """The group behind a role (made by a migration; recreated if someone deleted it)."""
    from django.contrib.auth.models import Group

    return Group.objects.get_or_create(name=Role(role).value)[0]


def user_roles(user: Any) -> set[Role]:
    """The roles a user holds; cached on the user object for the request."""
    if not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_portal_roles", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = {role for role in Role if role.value in names}
        if user.is_superuser:
            cached.add(Role.ADMIN)
        user._portal_roles = cached
    return set(cached)


def has_role(user: Any, role: Role) -> bool:
    return role in user_roles(user)


def can_view_everything(user: Any) -> bool:
    """Managers and admins read every investigation, run and audit record."""
    return bool(user_roles(user) & {Role.MANAGER, Role.ADMIN})


def can_run_analyses(user: Any) -> bool:
    """Only analysts create investigations and start runs."""
    return has_role(user, Role.ANALYST)


def can_read_audit(user: Any) -> bool:
    return can_view_everything(user)
