"""Login lockout (django-axes): a username is locked after LOGIN_FAILURE_LIMIT failures from one
address, or after LOGIN_USERNAME_FAILURE_LIMIT failures from any number of addresses (a
password spray from many machines); both for LOGIN_LOCKOUT_HOURS."""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.db.models import Sum


class LoginLockoutHandler(AxesDatabaseHandler):
    """Axes compares one failure count with one limit. AXES_LOCKOUT_PARAMETERS lists
    (username, address) first and the username alone second; the username's count is scaled so
    that reaching its own, higher limit reaches the common one."""

    def get_failures(self, request: Any, credentials: dict[str, Any] | None = None) -> int:
        counts = [
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        ]
        per_address = counts[0] if counts else 0
        per_username = counts[1] if len(counts) > 1 else 0
        limit = int(settings.AXES_FAILURE_LIMIT)
        username_limit = max(limit, int(settings.LOGIN_USERNAME_FAILURE_LIMIT))
        return max(per_address, per_username * limit // username_limit)
