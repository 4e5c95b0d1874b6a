"""Template context: the current user's roles, for showing only the actions they may take."""

from typing import Any

from django.http import HttpRequest

from portal.roles import Role, can_read_audit, can_run_analyses, user_roles


def roles(request: HttpRequest) -> dict[str, Any]:
    held = user_roles(request.user)
    return {
        "user_roles": sorted(role.value for role in held),
        "can_run_analyses": can_run_analyses(request.user),
        "can_read_audit": can_read_audit(request.user),
        "is_portal_admin": Role.ADMIN in held,
    }
