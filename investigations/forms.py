"""Forms for investigations and runs; they check the shape of input, services check the rest."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from accounts.models import AwsAccount
from analysis.analyzers import all_analyzers
from analysis.analyzers.params import (
    DEFAULT_SENSITIVE_PORTS,
    DEFAULT_THRESHOLDS,
    THRESHOLD_LABELS,
)
from analysis.formats import FlowFormat
from analysis.window import parse_time, utc_now
from investigations.choices import ReferenceKind, RunSource
from investigations.models import (
    MAX_TAGS_PER_INVESTIGATION,
    TAG_MAX_LENGTH,
    Investigation,
    ReferenceTable,
)
from investigations.runs.request import DEFAULT_TOP_N, MAX_TOP_N, RunRequest
from investigations.services import RunRequestInvalid, normalise_tags
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


TAGS_HELP = (
    "Comma-separated labels, e.g. ssh, customer acme; stored in lower case. "
    f"At most {MAX_TAGS_PER_INVESTIGATION}, each up to {TAG_MAX_LENGTH} characters."
)


def split_tags(value: str) -> list[str]:
    """Comma-separated tag names, checked and normalised (ValidationError says what is wrong)."""
    try:
        return normalise_tags(value.split(","))
    except RunRequestInvalid as exc:
        raise forms.ValidationError(str(exc)) from exc


class InvestigationForm(forms.ModelForm):
    members = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Analysts who can see and work on this investigation.",
    )

    tags = forms.CharField(
        required=False,
        max_length=1200,
        widget=forms.TextInput(attrs={"placeholder": "ssh, web tier", "autocomplete": "off"}),
        help_text=TAGS_HELP,
    )

    class Meta:
        model = Investigation
        fields = ["title", "description", "members"]
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}

    def clean_tags(self) -> list[str]:
        return split_tags(self.cleaned_data.get("tags") or "")

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


# Relative windows offered as presets (buttons with JavaScript, this select without).
RELATIVE_WINDOWS: dict[str, tuple[str, timedelta]] = {
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
}
_PORT_ENTRY = re.compile(r"(\d{1,6})\s*(?:[=:]\s*(.*))?", re.DOTALL)
_SERVICE_NAME = re.compile(r"[\w .+/()-]{0,40}")
THRESHOLD_PREFIX = "threshold_"


def sensitive_ports_text(ports: dict[Any, str]) -> str:
    """`port=label` lines, as the sensitive-ports field shows them."""
    return "\n".join(
        f"{port}={label}" if label else str(port)
        for port, label in sorted(ports.items(), key=lambda item: int(item[0]))
    )


def parse_port_list(text: str) -> dict[int, str]:
    """`port=label` entries, one a line or comma-separated (`22=ssh`, `3306:db`, `8080`); a bare
    port takes its usual service name, and no entry at all means the default list.
    ValidationError lists every bad entry."""
    ports: dict[int, str] = {}
    errors: list[str] = []
    entries = [entry.strip() for line in text.splitlines() for entry in line.split(",")]
    for entry in entries:
        if not entry:
            continue
        match = _PORT_ENTRY.fullmatch(entry)
        if match is None:
            errors.append(f"“{entry[:40]}” is not port=label (e.g. 8080=http-alt).")
            continue
        port, label = int(match.group(1)), (match.group(2) or "").strip()
        if port > 65535:
            errors.append(f"{port} is not a port (0 to 65535).")
        elif not _SERVICE_NAME.fullmatch(label):
            errors.append(
                f"The label of port {port} must be up to 40 letters, digits, spaces or . + / ( ) -."
            )
        elif port in ports:
            errors.append(f"Port {port} is listed twice.")
        else:
            ports[port] = label or DEFAULT_SENSITIVE_PORTS.get(port, "")
    if errors:
        raise forms.ValidationError(errors)
    return dict(sorted(ports.items())) if ports else dict(DEFAULT_SENSITIVE_PORTS)


def _plain_number(value: Any) -> Any:
    """20.0 shown as 20, so a form field does not turn whole numbers into decimals."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _local_input(value: datetime | None) -> str:
    """A time as a datetime-local input holds it: UTC, to the second, no offset."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") if value else ""


class RunForm(forms.Form):
    source = forms.ChoiceField(
        label="Read flow logs from",
        choices=[
            ("upload", "Uploaded files"),
            ("auto", "AWS: the flow log covering the instance"),
            ("cloudwatch", "AWS: CloudWatch Logs"),
            ("s3", "AWS: S3"),
        ],
        initial="upload",
        required=False,
    )
    engine = forms.ChoiceField(
        label="Analyse with",
        choices=[
            ("auto", "Automatic: Athena for large S3 windows, when the account has it"),
            ("local", "This portal's workers"),
            ("athena", "Amazon Athena (S3 flow logs; the account must have Athena set up)"),
        ],
        initial="auto",
        required=False,
        help_text="AWS runs only. Athena scans the data where it lies and is billed per byte "
        "scanned, within the account's scan limit.",
    )
    log_files = MultipleFileField(
        label="Flow-log files",
        required=False,
        help_text="VPC flow logs in the default or a custom format (header line), plain or gzip.",
    )
    log_format = forms.CharField(
        label="Log format",
        required=False,
        max_length=2000,
        help_text="Uploads only, for files without a header line in a custom format: the "
        "flow log's LogFormat (${version} ${srcaddr} ...) or its field names in order. Empty: "
        "each file's header line, else the AWS default format.",
    )
    held_uploads = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.HiddenInput,
        help_text="Files uploaded with a form that had errors, kept so they need no new pick.",
    )
    reuse_files_of = forms.IntegerField(
        required=False,
        min_value=1,
        widget=forms.HiddenInput,
        help_text="Re-run with changes: with no new file, this run's files are read again.",
    )
    account = forms.ModelChoiceField(
        label="AWS account",
        queryset=AwsAccount.objects.none(),
        required=False,
        help_text="Registered by an admin; discovery finds its instances and flow logs.",
    )
    instance = forms.CharField(
        label="Instance",
        required=False,
        widget=forms.TextInput(
            attrs={
                "placeholder": "i-0abc…, Name tag or address",
                "autocomplete": "off",
                "list": "instance-options",
            }
        ),
        help_text="Its addresses, interfaces, VPC ranges and flow log are filled in for you.",
    )
    flow_log_id = forms.CharField(
        label="Flow log (override)",
        required=False,
        max_length=40,
        widget=forms.TextInput(attrs={"placeholder": "fl-…"}),
        help_text="Empty: the most specific flow log covering the instance.",
    )
    interfaces = forms.CharField(
        label="Interfaces (override)",
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "eni-…"}),
        help_text="Empty: every interface of the instance.",
    )
    analyses = forms.MultipleChoiceField(
        choices=analysis_choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Pick at least one analysis."},
    )
    target_ips = forms.CharField(
        label="Target IPs or CIDRs",
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "10.0.1.10, 10.0.2.0/24"}),
        help_text="The instance addresses to focus on; empty means the whole log.",
    )
    vpc_cidrs = forms.CharField(
        label="VPC CIDRs (internal ranges)",
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "10.0.0.0/16, 10.1.0.0/16"}),
    )
    port = forms.IntegerField(required=False, min_value=0, max_value=65535)
    top_n = forms.IntegerField(
        label="Top N", initial=DEFAULT_TOP_N, min_value=1, max_value=MAX_TOP_N
    )
    rank_by = forms.ChoiceField(choices=[("flows", "Flows"), ("bytes", "Bytes")], initial="flows")
    lookup_table = forms.ModelChoiceField(
        queryset=ReferenceTable.objects.filter(kind=ReferenceKind.LOOKUP),
        required=False,
        help_text="For tag-mapping: port/protocol → tag.",
    )
    cidr_tables = forms.ModelMultipleChoiceField(
        queryset=ReferenceTable.objects.filter(kind=ReferenceKind.CIDR),
        required=False,
        label="CIDR tables",
        widget=forms.CheckboxSelectMultiple,
        help_text="For cidr-connections: provider ranges, known networks.",
    )
    known_hosts = forms.ModelChoiceField(
        queryset=ReferenceTable.objects.filter(kind=ReferenceKind.KNOWN_HOSTS),
        required=False,
        help_text="Aliases for addresses in tables and the graph.",
    )
    relative_window = forms.ChoiceField(
        label="Relative window",
        required=False,
        choices=[
            ("", "None: use the start and end below"),
            *((key, label) for key, (label, _delta) in RELATIVE_WINDOWS.items()),
        ],
        help_text="Up to now, from when the run is submitted.",
    )
    start_time = forms.CharField(
        label="Start time (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}),
        help_text="Empty: from the first record.",
    )
    end_time = forms.CharField(
        label="End time (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}),
        help_text="Empty: to the last record.",
    )
    sensitive_ports = forms.CharField(
        label="Sensitive ports",
        required=False,
        initial=sensitive_ports_text(DEFAULT_SENSITIVE_PORTS),
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text="One port=label a line (or comma-separated), e.g. 8080=http-alt; a bare port "
        "takes its usual name; empty: the defaults. Used by sensitive-ports and the "
        "probe detection.",
    )

    # Fields and the order they are shown in, by section (run_form.html); thresholds follow.
    SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
        (
            "Flow logs",
            (
                "source",
                "log_files",
                "log_format",
                "account",
                "instance",
                "flow_log_id",
                "interfaces",
                "engine",
            ),
        ),
        ("Analyses", ("analyses",)),
        ("Scope", ("target_ips", "vpc_cidrs", "port", "top_n", "rank_by")),
        ("Time window", ("relative_window", "start_time", "end_time")),
        ("Reference tables", ("lookup_table", "cidr_tables", "known_hosts")),
        ("Detection settings", ("sensitive_ports",)),
    )

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
        for name, default in DEFAULT_THRESHOLDS.items():
            self.fields[THRESHOLD_PREFIX + name] = forms.FloatField(
                label=THRESHOLD_LABELS.get(name, name.replace("_", " ")),
                required=False,
                min_value=0,
                initial=_plain_number(default),
                widget=forms.NumberInput(attrs={"step": "any"}),
                help_text=f"Default {_plain_number(default):,}; empty keeps it.",
            )

    def section_fields(self) -> list[tuple[str, list[forms.BoundField]]]:
        """The form's fields by section, for the template; fields no section names come last,
        so a new field is never left off the page."""
        shown: set[str] = set()
        sections = []
        for title, names in self.SECTIONS:
            fields = [self[name] for name in names if name in self.fields]
            if title == "Detection settings":
                fields += [self[name] for name in self.fields if name.startswith(THRESHOLD_PREFIX)]
            shown.update(field.name for field in fields)
            sections.append((title, fields))
        rest = [
            self[name]
            for name in self.fields
            if name not in shown and not self.fields[name].widget.is_hidden  # rendered apart
        ]
        if rest:
            sections.append(("More", rest))
        return sections

    def detection_open(self) -> bool:
        """Whether the page shows the detection settings unfolded: when they differ from the
        defaults (a re-run's custom settings are never hidden) or one of them has an error."""
        for name in ("sensitive_ports", *(THRESHOLD_PREFIX + t for t in DEFAULT_THRESHOLDS)):
            if self[name].errors:
                return True
            value = str(self[name].value() or "").replace("\r\n", "\n").strip()
            default = str(self.fields[name].initial or "").strip()
            if value and value != default:
                return True
        return False

    def clean_sensitive_ports(self) -> dict[int, str]:
        return parse_port_list(self.cleaned_data.get("sensitive_ports") or "")

    def thresholds(self) -> dict[str, float]:
        data = self.cleaned_data
        return {
            name: float(data[THRESHOLD_PREFIX + name])
            for name in DEFAULT_THRESHOLDS
            if data.get(THRESHOLD_PREFIX + name) is not None
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        relative = data.get("relative_window")
        if relative in RELATIVE_WINDOWS:
            if self.data.get(self.add_prefix("start_time")) or self.data.get(
                self.add_prefix("end_time")
            ):
                self.add_error(
                    "relative_window", "Choose a relative window or a start and end time, not both."
                )
            else:
                now = utc_now().replace(microsecond=0)
                data["start_time"], data["end_time"] = now - RELATIVE_WINDOWS[relative][1], now
        start, end = data.get("start_time"), data.get("end_time")
        if start and end and start > end:
            self.add_error("start_time", "The start is after the end.")
        data["source"] = data.get("source") or "upload"
        if data["source"] == "upload":
            if (
                not data.get("log_files")
                and not data.get("reuse_files_of")
                and not data.get("held_uploads")
                and "log_files" not in self.errors
            ):
                self.add_error("log_files", "Upload at least one flow-log file.")
            if (data.get("log_format") or "").strip():
                try:
                    FlowFormat.from_text(data["log_format"])
                except ValueError as exc:
                    self.add_error("log_format", str(exc))
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
            "target_ips": ", ".join(
                [*params.get("target_ips", []), *params.get("target_cidrs", [])]
            ),
            "vpc_cidrs": ", ".join(params.get("vpc_cidrs", [])),
            "port": params.get("port"),
            "top_n": params.get("top_n", 100),
            "rank_by": params.get("rank_by", "flows"),
            "start_time": _local_input(run.window_start),
            "end_time": _local_input(run.window_end),
            "sensitive_ports": sensitive_ports_text(
                params.get("sensitive_ports") or DEFAULT_SENSITIVE_PORTS
            ),
        }
        for name, value in (params.get("thresholds") or {}).items():
            if name in DEFAULT_THRESHOLDS:
                initial[THRESHOLD_PREFIX + name] = _plain_number(value)
        if run.source == RunSource.FILE and run.uploads.exists():
            initial["reuse_files_of"] = run.pk
            initial["log_format"] = config.get("log_format") or ""
        if config.get("account"):
            initial.update(
                source=run.source,
                account=config["account"],
                instance=(config.get("instance") or {}).get("instance_id", ""),
                flow_log_id=(config.get("flow_log") or {}).get("flow_log_id", ""),
                engine=config.get("engine") or "auto",
            )
        for version in run.reference_versions.select_related("table"):
            kind = version.table.kind
            if kind == ReferenceKind.CIDR:
                initial.setdefault("cidr_tables", []).append(version.table_id)
            else:
                initial["lookup_table" if kind == ReferenceKind.LOOKUP else "known_hosts"] = (
                    version.table_id
                )
        return initial

    def reference_tables(self) -> list[ReferenceTable]:
        data = self.cleaned_data
        chosen = [
            data.get("lookup_table"),
            *(data.get("cidr_tables") or []),
            data.get("known_hosts"),
        ]
        return [table for table in chosen if table is not None]

    def run_request(self, investigation: Any, reuse_uploads: Sequence[Any] = ()) -> RunRequest:
        """The run the analyst asked for (the form checked only the shape of the input);
        `reuse_uploads`: an earlier run's files, read again when no new file is given."""
        data = self.cleaned_data
        aws = data["source"] != "upload"
        return RunRequest.build(
            investigation=investigation,
            analyses=data["analyses"],
            targets=_split_list(data.get("target_ips", "")),
            vpc_cidrs=_split_list(data.get("vpc_cidrs", "")),
            port=data.get("port"),
            top_n=data.get("top_n"),
            rank_by=data.get("rank_by"),
            sensitive_ports=data["sensitive_ports"],
            thresholds=self.thresholds(),
            files=() if aws else data["log_files"],
            account=data["account"] if aws else None,
            instance=data.get("instance") or "",
            source=data["source"],
            flow_log_id=data.get("flow_log_id") or "",
            interfaces=_split_list(data.get("interfaces", "")),
            engine=data.get("engine") or "auto",
            window_start=data.get("start_time"),
            window_end=data.get("end_time"),
            reference_tables=self.reference_tables(),
            log_format="" if aws else data.get("log_format") or "",
            reuse_uploads=reuse_uploads,
        )


class NoteForm(forms.Form):
    text = forms.CharField(
        label="Add a note", widget=forms.Textarea(attrs={"rows": 3}), max_length=20_000
    )


class MembersForm(forms.Form):
    members = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Shared with",
    )

    def __init__(self, *args: Any, owner: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        members = self.fields["members"]
        assert isinstance(members, forms.ModelMultipleChoiceField)
        members.queryset = (
            get_user_model()
            .objects.filter(groups__name=Role.ANALYST, is_active=True)
            .exclude(pk=owner.pk)
            .order_by("username")
        )


class AssigneeForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label="Unassigned",
        label="Assignee",
        help_text="The owner or a member of this investigation; to assign someone else, the "
        "owner shares it with them first.",
    )

    def __init__(self, *args: Any, investigation: Investigation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assignee = self.fields["assignee"]
        assert isinstance(assignee, forms.ModelChoiceField)
        assignee.queryset = investigation.assignable_users()
        assignee.widget.attrs["aria-describedby"] = "assignee-help"


class TagsForm(forms.Form):
    tags = forms.CharField(
        required=False,
        max_length=1200,
        label="Tags",
        help_text=TAGS_HELP,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "list": "known-tags",
                "placeholder": "ssh, web tier",
                "aria-describedby": "tags-help",
            }
        ),
    )

    def clean_tags(self) -> list[str]:
        return split_tags(self.cleaned_data.get("tags") or "")


class ReferenceUploadForm(forms.Form):
    kind = forms.ChoiceField(choices=ReferenceKind.choices)
    name = forms.CharField(
        max_length=100, help_text="Uploading to an existing name adds a new version."
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    file = forms.FileField(
        help_text="Lookup: CSV dstport,protocol,tag. CIDR: AWS "
        "ip-ranges.json, RFC 8805 geofeed, CSV cidr,label,… or "
        '{"subnets": [...]} JSON. Known hosts: CSV ip,alias. AS database (admins): '
        "iptoasn.com ip2asn-v4/-v6/-combined.tsv or MaxMind GeoLite2-ASN CSV, gzipped or not."
    )


KEEP = ""
UNASSIGN = "none"


class FindingTriageForm(forms.Form):
    """Triage one or many findings: a new status, a new assignee, a comment (any of them)."""

    status = forms.ChoiceField(required=False, label="Status")
    assignee = forms.ChoiceField(required=False, label="Assignee")
    comment = forms.CharField(
        required=False, max_length=2000, label="Comment", widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, investigation: Investigation, **kwargs: Any) -> None:
        from investigations.choices import FindingStatus

        super().__init__(*args, **kwargs)
        self.people = list(investigation.assignable_users())
        status = self.fields["status"]
        assert isinstance(status, forms.ChoiceField)
        status.choices = [(KEEP, "Keep status"), *FindingStatus.choices]
        assignee = self.fields["assignee"]
        assert isinstance(assignee, forms.ChoiceField)
        assignee.choices = [
            (KEEP, "Keep assignee"),
            (UNASSIGN, "Unassigned"),
            *((str(person.pk), person.get_username()) for person in self.people),
        ]

    def changes(self) -> dict[str, Any]:
        """Keyword arguments for `services.triage_findings` (after is_valid)."""
        from investigations.services import UNCHANGED

        data = self.cleaned_data
        chosen = data.get("assignee") or KEEP
        if chosen == KEEP:
            assignee: Any = UNCHANGED
        elif chosen == UNASSIGN:
            assignee = None
        else:
            assignee = next(person for person in self.people if str(person.pk) == chosen)
        return {
            "status": data.get("status") or None,
            "assignee": assignee,
            "comment": data.get("comment") or "",
        }


class SuppressionRuleForm(forms.Form):
    """A suppression rule's fields; the service checks the detection id and the addresses."""

    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="A short name runs show, e.g. “authorised scanner”.",
    )
    reason = forms.CharField(
        label="Reason",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why these findings are expected (who runs the scanner, the change ticket…).",
    )
    detection = forms.ChoiceField(label="Detection", choices=())
    actor = forms.CharField(
        label="Actor address or CIDR",
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
        help_text="e.g. 203.0.113.7 or 10.0.4.0/24; empty: any actor.",
    )
    target = forms.CharField(
        label="Target address or CIDR",
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
        help_text="Empty: any target. Give an actor, a target or both.",
    )
    expires_at = forms.CharField(
        label="Expires (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}),
        help_text="Optional: after this time runs no longer honour the rule.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from investigations.suppressions import detection_choices

        super().__init__(*args, **kwargs)
        self.fields["detection"].choices = detection_choices()  # type: ignore[attr-defined]

    def clean_expires_at(self) -> datetime | None:
        value = (self.cleaned_data.get("expires_at") or "").strip()
        if not value:
            return None
        try:
            return parse_time(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
