"""Filters for investigations and run history, each shared by its page and its API endpoint."""

from __future__ import annotations

import contextlib
from datetime import datetime, time
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import AwsAccount
from analysis.detections.base import TACTICS
from investigations.choices import InvestigationStatus, RunStatus
from investigations.models import Investigation, QueryRun, Tag
from investigations.sightings import tactic_filter

ASSIGNED_TO_ME = "me"
UNASSIGNED = "none"


def _day_start(day: Any) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def _day_end(day: Any) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.max), timezone.get_current_timezone())


def runs_over_account(account: AwsAccount, prefix: str = "") -> Q:
    """Runs that read this AWS account. Matched on the 12-digit account ID the run recorded
    (`source_config["account_id"]`, a JSON key lookup that SQLite and PostgreSQL both run), so
    runs made under an earlier registration of the same AWS account are found too."""
    return Q(**{f"{prefix}source_config__account_id": account.account_id})


class InvestigationFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        label="Search",
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "Title or description"}),
    )
    status = forms.ChoiceField(required=False, choices=[("", "Any"), *InvestigationStatus.choices])
    owner = forms.CharField(
        required=False, max_length=150, widget=forms.TextInput(attrs={"placeholder": "username"})
    )
    assignee = forms.CharField(
        required=False,
        max_length=150,
        widget=forms.Select,
        help_text=f"`{ASSIGNED_TO_ME}` (assigned to me), `{UNASSIGNED}` (unassigned) or a "
        "username.",
    )
    tag = forms.CharField(required=False, max_length=200, widget=forms.Select)
    account = forms.ModelChoiceField(
        queryset=AwsAccount.objects.none(), required=False, label="AWS account", empty_label="Any"
    )
    since = forms.DateField(
        required=False, label="Updated since", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        account = self.fields["account"]
        assert isinstance(account, forms.ModelChoiceField)
        account.queryset = AwsAccount.objects.for_user(user).order_by("name")
        # Choices come from what this user can see: names of others' tags never leak.
        visible = Investigation.objects.for_user(user)
        assignees = (
            get_user_model()
            .objects.filter(assigned_investigations__in=visible)
            .exclude(pk=user.pk)
            .distinct()
            .order_by("username")
            .values_list("username", flat=True)
        )
        assignee_choices = [
            ("", "Anyone"),
            (ASSIGNED_TO_ME, "Assigned to me"),
            (UNASSIGNED, "Unassigned"),
            *((name, name) for name in assignees),
        ]
        tags = Tag.objects.filter(investigations__in=visible).distinct().order_by("name")
        tag_choices = [("", "Any"), *((name, name) for name in tags.values_list("name", flat=True))]
        if self.is_bound:
            # The select shows what is filtered on, even a name typed into the URL as "SSH ".
            data: Any = self.data.copy()  # type: ignore[attr-defined]  # a QueryDict
            raw_tag = str(data.get("tag") or "")
            with contextlib.suppress(ValueError):  # clean_tag reports it
                data["tag"] = Tag.normalise(raw_tag) if raw_tag.strip() else ""
            self.data = data
            for name, choices in (("assignee", assignee_choices), ("tag", tag_choices)):
                value = str(self.data.get(name) or "")
                if value and value not in {choice for choice, _label in choices}:
                    choices.append((value, value))
        self.fields["assignee"].widget.choices = assignee_choices
        self.fields["tag"].widget.choices = tag_choices

    def clean_tag(self) -> str:
        raw = self.cleaned_data.get("tag") or ""
        try:
            return Tag.normalise(raw) if raw.strip() else ""
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def filter(self, investigations: QuerySet[Any]) -> QuerySet[Any]:
        if not self.is_valid():
            return investigations.none()
        data: dict[str, Any] = self.cleaned_data
        if data.get("status"):
            investigations = investigations.filter(status=data["status"])
        query = (data.get("q") or "").strip()
        if query:
            investigations = investigations.filter(
                Q(title__icontains=query) | Q(description__icontains=query)
            )
        owner = (data.get("owner") or "").strip()
        if owner:
            investigations = investigations.filter(owner__username__icontains=owner)
        assignee = (data.get("assignee") or "").strip()
        if assignee == ASSIGNED_TO_ME:
            investigations = investigations.filter(assignee=self.user)
        elif assignee == UNASSIGNED:
            investigations = investigations.filter(assignee__isnull=True)
        elif assignee:
            investigations = investigations.filter(assignee__username=assignee)
        if data.get("tag"):
            # A subquery, not a join: no duplicate rows, and it combines with any other filter.
            tagged = Investigation.tags.through.objects.filter(tag__name=data["tag"])
            investigations = investigations.filter(pk__in=tagged.values("investigation_id"))
        if data.get("account") is not None:
            over = QueryRun.objects.filter(runs_over_account(data["account"]))
            investigations = investigations.filter(pk__in=over.values("investigation_id"))
        if data.get("since"):
            investigations = investigations.filter(updated_at__gte=_day_start(data["since"]))
        return investigations


class RunFilterForm(forms.Form):
    analyst = forms.CharField(required=False, label="Analyst")
    analysis = forms.CharField(
        required=False,
        label="Analysis",
        widget=forms.TextInput(attrs={"placeholder": "ssh-inbound"}),
    )
    status = forms.ChoiceField(required=False, choices=[("", "Any"), *RunStatus.choices])
    account = forms.ModelChoiceField(
        queryset=AwsAccount.objects.none(),
        required=False,
        label="AWS account",
        empty_label="Any",
        help_text="Runs that read this AWS account (matched on its 12-digit account ID).",
    )
    investigation = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        account = self.fields["account"]
        assert isinstance(account, forms.ModelChoiceField)
        account.queryset = AwsAccount.objects.for_user(user).order_by("name")

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
        if data.get("account") is not None:
            runs = runs.filter(runs_over_account(data["account"]))
        if data.get("investigation"):
            runs = runs.filter(investigation_id=data["investigation"])
        if data.get("since"):
            runs = runs.filter(created_at__gte=_day_start(data["since"]))
        if data.get("until"):
            runs = runs.filter(created_at__lte=_day_end(data["until"]))
        return runs


SEVERITY_BANDS = {"critical": (9, None), "high": (7, 9), "medium": (4, 7), "low": (None, 4)}


class FindingFilterForm(forms.Form):
    """The investigation page's findings list (one row per finding identity): by status,
    severity band, type and ATT&CK tactic."""

    status = forms.ChoiceField(required=False, label="Status")
    severity = forms.ChoiceField(
        required=False,
        label="Severity",
        choices=[("", "Any"), *((band, band.capitalize()) for band in SEVERITY_BANDS)],
    )
    type = forms.ChoiceField(required=False, label="Type")
    tactic = forms.ChoiceField(
        required=False,
        label="ATT&CK tactic",
        choices=[("", "Any"), *((tid, f"{name} ({tid})") for tid, name in TACTICS.items())],
    )

    def __init__(self, *args: Any, types: list[str], **kwargs: Any) -> None:
        from investigations.choices import FindingStatus

        super().__init__(*args, **kwargs)
        status = self.fields["status"]
        assert isinstance(status, forms.ChoiceField)
        status.choices = [("", "Any"), *FindingStatus.choices]
        kind = self.fields["type"]
        assert isinstance(kind, forms.ChoiceField)
        kind.choices = [("", "Any"), *((name, name) for name in types)]

    def filter(self, findings: QuerySet[Any]) -> QuerySet[Any]:
        """Filtered and sorted most severe first, then most recently seen."""
        findings = findings.order_by("-severity", "-last_seen", "-id")
        if not self.is_valid():
            return findings.none()
        data = self.cleaned_data
        if data.get("status"):
            findings = findings.filter(status=data["status"])
        if data.get("severity"):
            low, high = SEVERITY_BANDS[data["severity"]]
            if low is not None:
                findings = findings.filter(severity__gte=low)
            if high is not None:
                findings = findings.filter(severity__lt=high)
        if data.get("type"):
            findings = findings.filter(type=data["type"])
        if data.get("tactic"):
            findings = findings.filter(tactic_filter(data["tactic"]))
        return findings
