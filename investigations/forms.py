"""Forms for investigations and runs; they check the shape of input, services check the rest."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from analysis.analyzers import all_analyzers
from analysis.window import parse_time
from investigations.models import Investigation
from portal.roles import Role


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)]


class InvestigationForm(forms.ModelForm):
    members = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Analysts who can see and work on this investigation.",
    )

    class Meta:
        model = Investigation
        fields = ["title", "description", "members"]
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        analysts = get_user_model().objects.filter(groups__name=Role.ANALYST, is_active=True)
        if user is not None:
            analysts = analysts.exclude(pk=user.pk)
        members = self.fields["members"]
        assert isinstance(members, forms.ModelMultipleChoiceField)
        members.queryset = analysts.order_by("username")


_SPLIT = re.compile(r"[\s,;]+")


def _split_list(value: str) -> list[str]:
    return [item for item in _SPLIT.split(value or "") if item]


def analysis_choices() -> list[tuple[str, str]]:
    return [(a.name, f"{a.title} — {a.description}") for a in all_analyzers()]


class RunForm(forms.Form):
    log_files = MultipleFileField(
        label="Flow-log files",
        help_text="VPC flow logs in the default or a custom format (header line), plain or gzip.",
    )
    analyses = forms.MultipleChoiceField(
        choices=analysis_choices, widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Pick at least one analysis."},
    )
    target_ips = forms.CharField(
        label="Target IPs or CIDRs", required=False,
        widget=forms.TextInput(attrs={"placeholder": "10.0.1.10, 10.0.2.0/24"}),
        help_text="The instance addresses to focus on; empty means the whole log.",
    )
    vpc_cidrs = forms.CharField(
        label="VPC CIDRs (internal ranges)", required=False,
        widget=forms.TextInput(attrs={"placeholder": "10.0.0.0/16, 10.1.0.0/16"}),
    )
    port = forms.IntegerField(required=False, min_value=0, max_value=65535)
    top_n = forms.IntegerField(label="Top N", initial=100, min_value=1, max_value=10_000)
    rank_by = forms.ChoiceField(choices=[("flows", "Flows"), ("bytes", "Bytes")], initial="flows")
    start_time = forms.CharField(
        required=False, help_text="e.g. 24h, 7d, 2026-11-20T10:00, epoch seconds; empty = all."
    )
    end_time = forms.CharField(required=False, help_text="e.g. now, or an ISO time.")

    def _clean_time(self, field: str) -> datetime | None:
        value = (self.cleaned_data.get(field) or "").strip()
        if not value:
            return None
        try:
            return parse_time(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean_start_time(self) -> datetime | None:
        return self._clean_time("start_time")

    def clean_end_time(self) -> datetime | None:
        return self._clean_time("end_time")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start_time"), data.get("end_time")
        if start and end and start > end:
            self.add_error("start_time", "The start is after the end.")
        return data

    def parameters(self) -> dict[str, Any]:
        data = self.cleaned_data
        targets = _split_list(data.get("target_ips", ""))
        return {
            "target_ips": [t for t in targets if "/" not in t],
            "target_cidrs": [t for t in targets if "/" in t],
            "vpc_cidrs": _split_list(data.get("vpc_cidrs", "")),
            "port": data.get("port"),
            "top_n": data.get("top_n") or 100,
            "rank_by": data.get("rank_by") or "flows",
        }


class NoteForm(forms.Form):
    text = forms.CharField(label="Add a note", widget=forms.Textarea(attrs={"rows": 3}),
                           max_length=20_000)


class MembersForm(forms.Form):
    members = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.none(), required=False,
        widget=forms.CheckboxSelectMultiple, label="Shared with",
    )

    def __init__(self, *args: Any, owner: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        members = self.fields["members"]
        assert isinstance(members, forms.ModelMultipleChoiceField)
        members.queryset = (
            get_user_model().objects.filter(groups__name=Role.ANALYST, is_active=True)
            .exclude(pk=owner.pk).order_by("username")
        )
