"""API views for site-wide records: the audit log (managers and admins, read-only)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated

from portal.api.permissions import TokenHasScope
from portal.api.serializers import AuditEventSerializer
from portal.filtersets import AuditEventFilterForm
from portal.models import AuditEvent
from portal.roles import can_read_audit


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """Filters: `actor`, `action` (prefix), `target`, `since`, `until` (YYYY-MM-DD)."""

    serializer_class = AuditEventSerializer
    permission_classes = [IsAuthenticated, TokenHasScope]
    required_scopes = {"GET": "read:audit"}

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return AuditEvent.objects.none()
        if not can_read_audit(self.request.user):
            raise PermissionDenied("Only managers and admins read the audit log.")
        events: QuerySet[AuditEvent] = AuditEvent.objects.for_user(self.request.user).order_by(
            "-created_at", "-id"
        )
        if self.request.query_params:
            form = AuditEventFilterForm(self.request.query_params)
            events = form.filter(events)
        return events
