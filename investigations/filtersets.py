"""Run history filters, shared by the history page and the runs API."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

from investigations.choices import RunStatus
from investigations.models import QueryRun


class RunFilterForm(forms.Form):
    analyst = forms.CharField(required=False, label="Analyst")
    analysis = forms.CharField(required=False, label="Analysis",
                               widget=forms.TextInput(attrs={"placeholder": "ssh-inbound"}))
    status = forms.ChoiceField(required=False, choices=[("", "Any"), *RunStatus.choices])
    investigation = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    since = forms.DateField(required=False, label="From",
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To",
                            widget=forms.DateInput(attrs={"type": "date"}))

    def filter(self, runs: QuerySet[QueryRun]) -> QuerySet[QueryRun]:
        if not self.is_valid():
            return runs.none()
        data: dict[str, Any] = self.cleaned_data
        if data.get("analyst"):
            users = get_user_model().objects.filter(username__icontains=data["analyst"])
            runs = runs.filter(requested_by__in=users)
        if data.get("analysis"):
            # JSON list membership, portable across SQLite and PostgreSQL.
            runs = runs.filter(analyses__icontains=f'"{data["analysis"]}"')
        if data.get("status"):
            runs = runs.filter(status=data["status"])
        if data.get("investigation"):
            runs = runs.filter(investigation_id=data["investigation"])
        tz = timezone.get_current_timezone()
        if data.get("since"):
            runs = runs.filter(created_at__gte=timezone.make_aware(
                datetime.combine(data["since"], time.min), tz))
        if data.get("until"):
            runs = runs.filter(created_at__lte=timezone.make_aware(
                datetime.combine(data["until"], time.max), tz))
        return runs
