"""Filters for the audit log, shared by its page, its CSV export and its API endpoint."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone

from portal.models import AuditEvent


class AuditEventFilterForm(forms.Form):
    actor = forms.CharField(required=False, label="Who")
    action = forms.CharField(required=False, label="Action", help_text="e.g. run.submitted")
    target = forms.CharField(required=False, label="Target", help_text="e.g. a run number")
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def filter(self, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        if not self.is_valid():
            return events.none()
        data: dict[str, Any] = self.cleaned_data
        if data.get("actor"):
            events = events.filter(actor_name__icontains=data["actor"])
        if data.get("action"):
            events = events.filter(action__startswith=data["action"])
        if data.get("target"):
            term = data["target"]
            events = events.filter(Q(target_id=term) | Q(target_repr__icontains=term))
        tz = timezone.get_current_timezone()
        if data.get("since"):
            events = events.filter(
                created_at__gte=timezone.make_aware(datetime.combine(data["since"], time.min), tz)
            )
        if data.get("until"):
            events = events.filter(
                created_at__lte=timezone.make_aware(datetime.combine(data["until"], time.max), tz)
            )
        return events
