"""Forms for investigations and runs; they check the shape of input, services check the rest."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from accounts.models import AwsAccount
from analysis.analyzers import all_analyzers
from analysis.window import parse_time
from investigations.choices import ReferenceKind
from investigations.models import Investigation, ReferenceTable
from portal.roles import Role


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data or self.required else []


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
    every = ("all", "All — every analysis the logs and the parameters below allow")
    return [every, *((a.name, f"{a.title} — {a.description}") for a in all_analyzers())]


class RunForm(forms.Form):
    source = forms.ChoiceField(
        label="Read flow logs from",
        choices=[("upload", "Uploaded files"), ("auto", "AWS: the flow log covering the instance"),
                 ("cloudwatch", "AWS: CloudWatch Logs"), ("s3", "AWS: S3")],
        initial="upload", required=False,
    )
    log_files = MultipleFileField(
        label="Flow-log files", required=False,
        help_text="VPC flow logs in the default or a custom format (header line), plain or gzip.",
    )
    account = forms.ModelChoiceField(
        label="AWS account", queryset=AwsAccount.objects.none(), required=False,
        help_text="Registered by an admin; discovery finds its instances and flow logs.",
    )
    instance = forms.CharField(
        label="Instance", required=False,
        widget=forms.TextInput(attrs={"placeholder": "i-0abc…, Name tag or address",
                                      "autocomplete": "off", "list": "instance-options"}),
        help_text="Its addresses, interfaces, VPC ranges and flow log are filled in for you.",
    )
    flow_log_id = forms.CharField(
        label="Flow log (override)", required=False, max_length=40,
        widget=forms.TextInput(attrs={"placeholder": "fl-…"}),
        help_text="Empty: the most specific flow log covering the instance.",
    )
    interfaces = forms.CharField(
        label="Interfaces (override)", required=False,
        widget=forms.TextInput(attrs={"placeholder": "eni-…"}),
        help_text="Empty: every interface of the instance.",
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
    lookup_table = forms.ModelChoiceField(
        queryset=ReferenceTable.objects.filter(kind=ReferenceKind.LOOKUP), required=False,
        help_text="For tag-mapping: port/protocol → tag.",
    )
    cidr_tables = forms.ModelMultipleChoiceField(
        queryset=ReferenceTable.objects.filter(kind=ReferenceKind.CIDR), required=False,
        label="CIDR tables", widget=forms.CheckboxSelectMultiple,
        help_text="For cidr-connections: provider ranges, known networks.",
    )
    known_hosts = forms.ModelChoiceField(
        queryset=ReferenceTable.objects.filter(kind=ReferenceKind.KNOWN_HOSTS), required=False,
        help_text="Aliases for addresses in tables and the graph.",
    )
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

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        account = self.fields["account"]
        assert isinstance(account, forms.ModelChoiceField)
        account.queryset = AwsAccount.objects.for_user(user).order_by("name")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start_time"), data.get("end_time")
        if start and end and start > end:
            self.add_error("start_time", "The start is after the end.")
        data["source"] = data.get("source") or "upload"
        if data["source"] == "upload":
            if not data.get("log_files") and "log_files" not in self.errors:
                self.add_error("log_files", "Upload at least one flow-log file.")
        elif data.get("source"):
            if not data.get("account"):
                self.add_error("account", "Pick the AWS account to read.")
            if not (data.get("instance") or "").strip():
                self.add_error("instance", "Name the instance to investigate.")
        return data

    @staticmethod
    def initial_from_run(run: Any) -> dict[str, Any]:
        """The form's starting values to run `run` again, changed as the analyst likes."""
        params = run.parameters or {}
        config = run.source_config or {}
        initial: dict[str, Any] = {
            "analyses": run.analyses,
            "target_ips": ", ".join([*params.get("target_ips", []),
                                     *params.get("target_cidrs", [])]),
            "vpc_cidrs": ", ".join(params.get("vpc_cidrs", [])),
            "port": params.get("port"),
            "top_n": params.get("top_n", 100),
            "rank_by": params.get("rank_by", "flows"),
            "start_time": run.window_start.isoformat() if run.window_start else "",
            "end_time": run.window_end.isoformat() if run.window_end else "",
        }
        if config.get("account"):
            initial.update(source=run.source, account=config["account"],
                           instance=(config.get("instance") or {}).get("instance_id", ""),
                           flow_log_id=(config.get("flow_log") or {}).get("flow_log_id", ""))
        for version in run.reference_versions.select_related("table"):
            kind = version.table.kind
            if kind == ReferenceKind.CIDR:
                initial.setdefault("cidr_tables", []).append(version.table_id)
            else:
                initial["lookup_table" if kind == ReferenceKind.LOOKUP else "known_hosts"] = (
                    version.table_id)
        return initial

    def reference_tables(self) -> list[ReferenceTable]:
        data = self.cleaned_data
        chosen = [data.get("lookup_table"), *(data.get("cidr_tables") or []),
                  data.get("known_hosts")]
        return [table for table in chosen if table is not None]

    def source_arguments(self) -> dict[str, Any]:
        """The service's keyword arguments for where the data comes from."""
        data = self.cleaned_data
        if data["source"] == "upload":
            return {"files": data["log_files"]}
        return {"account": data["account"], "instance": data["instance"].strip(),
                "source": data["source"], "flow_log_id": data.get("flow_log_id", "").strip(),
                "interfaces": _split_list(data.get("interfaces", ""))}

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


class ReferenceUploadForm(forms.Form):
    kind = forms.ChoiceField(choices=ReferenceKind.choices)
    name = forms.CharField(max_length=100, help_text="Uploading to an existing name adds a "
                                                     "new version.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    file = forms.FileField(help_text="Lookup: CSV dstport,protocol,tag. CIDR: AWS "
                                     "ip-ranges.json, RFC 8805 geofeed, CSV cidr,label,… or "
                                     "{\"subnets\": [...]} JSON. Known hosts: CSV ip,alias.")
