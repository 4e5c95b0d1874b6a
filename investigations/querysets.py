"""Access gates: every page and API endpoint reads investigations and runs through these."""

from __future__ import annotations

from typing import Any

from django.db import models

from portal.roles import can_view_everything


class InvestigationQuerySet(models.QuerySet):
    def for_user(self, user: Any) -> InvestigationQuerySet:
        """Managers and admins see all; analysts see what they own or are members of."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        if can_view_everything(user):
            return self
        return self.filter(models.Q(owner=user) | models.Q(members=user)).distinct()

    def writable_by(self, user: Any) -> InvestigationQuerySet:
        """Investigations the user may change: owner or member, and holding the analyst role."""
        from portal.roles import can_run_analyses

        if not can_run_analyses(user):
            return self.none()
        return self.filter(models.Q(owner=user) | models.Q(members=user)).distinct()


class FindingQuerySet(models.QuerySet):
    def for_user(self, user: Any) -> FindingQuerySet:
        from investigations.models import Investigation

        visible = Investigation.objects.for_user(user).values("pk")
        return self.filter(investigation__in=visible)


class QueryRunQuerySet(models.QuerySet):
    def for_user(self, user: Any) -> QueryRunQuerySet:
        from investigations.models import Investigation

        visible = Investigation.objects.for_user(user).values("pk")
        return self.filter(investigation__in=visible)


class SuppressionRuleQuerySet(models.QuerySet):
    def for_user(self, user: Any) -> SuppressionRuleQuerySet:
        """Global rules, and the rules of investigations the user can see."""
        from investigations.models import Investigation

        if not getattr(user, "is_authenticated", False):
            return self.none()
        visible = Investigation.objects.for_user(user).values("pk")
        return self.filter(
            models.Q(investigation__isnull=True) | models.Q(investigation__in=visible)
        )

    def active(self, now: Any = None) -> SuppressionRuleQuerySet:
        """Neither disabled nor expired at `now` (default: now)."""
        from django.utils import timezone

        moment = now or timezone.now()
        return self.filter(disabled_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=moment)
        )

    def for_investigation(self, investigation_id: int) -> SuppressionRuleQuerySet:
        """The rules a run of the investigation honours: its own and the global ones."""
        return self.filter(
            models.Q(investigation_id=investigation_id) | models.Q(investigation__isnull=True)
        )
