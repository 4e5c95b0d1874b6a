"""API representations of investigations, runs and results; shape checks only."""

from __future__ import annotations

import math
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from accounts.models import AwsAccount
from analysis.analyzers.params import parse_sensitive_ports, parse_thresholds
from analysis.formats import FlowFormat
from analysis.window import parse_time
from investigations.choices import FindingStatus, InvestigationStatus, ReferenceKind
from investigations.models import (
    MAX_TAGS_PER_INVESTIGATION,
    TAG_MAX_LENGTH,
    Finding,
    FindingSighting,
    Investigation,
    Note,
    QueryRun,
    ReferenceTable,
    ReferenceTableVersion,
    RunResult,
)
from investigations.runs.request import DEFAULT_TOP_N, MAX_TOP_N, RunRequest
from investigations.runsummary import no_data_reason, run_outcome
from portal.api.permissions import hidden_analyses

TAGS_HELP = (
    f"Tag names (at most {MAX_TAGS_PER_INVESTIGATION}, each up to {TAG_MAX_LENGTH} "
    "characters, no commas); stored normalised: lower case, inner whitespace as one "
    "space."
)
ASSIGNEE_HELP = (
    "Username of the owner or a member of the investigation, or null for nobody; "
    "the owner shares it with someone before they can be assigned."
)


class UsernameField(serializers.CharField):
    """A user written and shown as their username; who may be named is the service's rule."""

    def to_representation(self, value: Any) -> str:
        return str(value.get_username())


class TagNamesField(serializers.ListField):
    """An investigation's tags as a sorted list of names."""

    # Generous shape limits; the service says precisely what is wrong with a name or a count.
    child = serializers.CharField(max_length=200)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", TAGS_HELP)
        kwargs.setdefault("max_length", 100)
        super().__init__(**kwargs)

    def to_representation(self, data: Any) -> list[Any]:
        tags = data.all() if hasattr(data, "all") else data
        return sorted(getattr(tag, "name", tag) for tag in tags)


class InvestigationSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    members = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)
    assignee = UsernameField(
        required=False, allow_null=True, max_length=150, help_text=ASSIGNEE_HELP
    )
    tags = TagNamesField(required=False)

    class Meta:
        model = Investigation
        fields = [
            "id",
            "title",
            "description",
            "status",
            "owner",
            "members",
            "assignee",
            "tags",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "status", "owner", "members", "created_at", "updated_at"]


class InvestigationUpdateSerializer(serializers.Serializer):
    """What PATCH may change; give any of them. All change together, or none does."""

    status = serializers.ChoiceField(choices=InvestigationStatus.choices, required=False)
    assignee = serializers.CharField(
        required=False, allow_null=True, max_length=150, help_text=ASSIGNEE_HELP
    )
    tags = TagNamesField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Give status, assignee or tags to change.")
        return attrs


class RunResultSummarySerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    columns = serializers.ListField(child=serializers.CharField(), read_only=True)
    summary = serializers.DictField(read_only=True)

    class Meta:
        model = RunResult
        fields = [
            "analysis",
            "title",
            "columns",
            "row_count",
            "total_groups",
            "truncated",
            "summary",
            "url",
        ]

    def get_url(self, obj: RunResult) -> str:
        return reverse(
            "api:run-result", args=[obj.run_id, obj.analysis], request=self.context.get("request")
        )


class RunReferenceSerializer(serializers.Serializer):
    """A reference-table version a run used; `changed_since`: the table has a newer version."""

    table = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    latest_version = serializers.IntegerField()
    changed_since = serializers.BooleanField()


class QueryRunSerializer(serializers.ModelSerializer):
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    results = serializers.SerializerMethodField()
    reference_tables = serializers.SerializerMethodField()
    outcome = serializers.SerializerMethodField(
        help_text=(
            "How the run ended, for alerting: `analysed`, `no_data` (it succeeded but analysed "
            "no record; `no_data_reason` says why), `failed` or `cancelled`; null while active."
        )
    )
    no_data_reason = serializers.SerializerMethodField()

    class Meta:
        model = QueryRun
        fields = [
            "id",
            "investigation",
            "requested_by",
            "analyses",
            "parameters",
            "source",
            "window_start",
            "window_end",
            "status",
            "outcome",
            "no_data_reason",
            "progress",
            "stage",
            "records_so_far",
            "error",
            "cancel_requested",
            "records",
            "data_read",
            "created_at",
            "updated_at",
            "started_at",
            "finished_at",
            "attempts",
            "worker",
            "change_number",
            "results",
            "reference_tables",
        ]
        read_only_fields = fields

    @extend_schema_field(
        serializers.ChoiceField(
            choices=["analysed", "no_data", "failed", "cancelled"], allow_null=True
        )
    )
    def get_outcome(self, obj: QueryRun) -> str | None:
        return run_outcome(obj)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_no_data_reason(self, obj: QueryRun) -> str | None:
        return no_data_reason(obj)

    @extend_schema_field(RunReferenceSerializer(many=True))
    def get_reference_tables(self, obj: QueryRun) -> list[dict[str, Any]]:
        """The reference-table versions the run used, and whether each table changed since."""
        newer = {used.pk: latest for used, latest in obj.reference_changes()}
        return [
            {
                "table": used.table_id,
                "name": used.table.name,
                "version": used.number,
                "latest_version": (newer[used.pk].number if used.pk in newer else used.number),
                "changed_since": used.pk in newer,
            }
            for used in obj.reference_versions.select_related("table").order_by("table__name")
        ]

    @extend_schema_field(RunResultSummarySerializer(many=True))
    def get_results(self, obj: QueryRun) -> list[dict[str, Any]]:
        hidden = hidden_analyses(self.context.get("request"))
        return RunResultSummarySerializer(
            [r for r in obj.results.all() if r.analysis not in hidden],  # prefetched, in order
            many=True,
            context=self.context,
        ).data


class _CommaListField(serializers.ListField):
    """Accepts repeated form fields, a JSON list, or one comma-separated string."""

    def to_internal_value(self, data: Any) -> list[Any]:
        if isinstance(data, str):
            data = [data]
        if not isinstance(data, list | tuple):
            self.fail("not_a_list", input_type=type(data).__name__)
        flat = [part.strip() for item in data for part in str(item).split(",") if part.strip()]
        return super().to_internal_value(flat)


class QueryRunCreateSerializer(serializers.Serializer):
    investigation = serializers.PrimaryKeyRelatedField(queryset=Investigation.objects.none())
    analyses = _CommaListField(child=serializers.CharField(max_length=64), allow_empty=False)
    files = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        default=list,
        help_text="Flow-log files (multipart); or give account and instance instead.",
    )
    log_format = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        help_text="Uploads only, for files without a header line in a custom format: the "
        "LogFormat (`${version} ${srcaddr} ...`) or the field names in order.",
    )
    account = serializers.PrimaryKeyRelatedField(
        queryset=AwsAccount.objects.none(),
        required=False,
        allow_null=True,
        help_text="Read the flow log covering `instance` in this AWS account.",
    )
    instance = serializers.CharField(required=False, allow_blank=True, max_length=200)
    engine = serializers.ChoiceField(
        choices=["auto", "local", "athena"],
        required=False,
        default="auto",
        help_text="Where an AWS run is analysed: `auto` uses Athena for S3 windows larger than "
        "the portal's threshold when the account has Athena set up.",
    )
    source = serializers.ChoiceField(
        choices=["auto", "cloudwatch", "s3"], required=False, default="auto"
    )
    flow_log_id = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=40,
        help_text="Override the flow log.",
    )
    interfaces = _CommaListField(
        child=serializers.CharField(max_length=40),
        required=False,
        default=list,
        help_text="Override the interfaces read.",
    )
    reference_tables = serializers.PrimaryKeyRelatedField(
        queryset=ReferenceTable.objects.all(),
        many=True,
        required=False,
        default=list,
        help_text="Lookup, CIDR and known-hosts tables to use (their latest versions).",
    )
    target_ips = _CommaListField(
        child=serializers.CharField(max_length=64), required=False, default=list
    )
    vpc_cidrs = _CommaListField(
        child=serializers.CharField(max_length=64), required=False, default=list
    )
    port = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=65535)
    top_n = serializers.IntegerField(
        required=False, default=DEFAULT_TOP_N, min_value=1, max_value=MAX_TOP_N
    )
    rank_by = serializers.ChoiceField(choices=["flows", "bytes"], required=False, default="flows")
    start_time = serializers.CharField(required=False, allow_blank=True)
    end_time = serializers.CharField(required=False, allow_blank=True)
    sensitive_ports = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=40),
        required=False,
        help_text='Port → service name, e.g. {"22": "ssh", "8080": ""}; replaces the '
        "default list (an empty name takes the port's usual one).",
    )
    thresholds = serializers.DictField(
        child=serializers.FloatField(min_value=0),
        required=False,
        help_text="Detection thresholds to change, by name (e.g. portscan_min_ports); the others "
        "keep their defaults.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["investigation"].queryset = Investigation.objects.for_user(request.user)
            self.fields["account"].queryset = AwsAccount.objects.for_user(request.user)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("account") is None and not attrs.get("files"):
            raise serializers.ValidationError(
                {"files": ["Upload flow-log files, or give an account and an instance."]}
            )
        if attrs.get("account") is not None and not (attrs.get("instance") or "").strip():
            raise serializers.ValidationError({"instance": ["Name the instance to read."]})
        return attrs

    def run_request(self) -> RunRequest:
        """The run the caller asked for (this serializer checked only the shape of the input)."""
        data = self.validated_data
        return RunRequest.build(
            investigation=data["investigation"],
            analyses=data["analyses"],
            targets=data.get("target_ips", []),
            vpc_cidrs=data.get("vpc_cidrs", []),
            port=data.get("port"),
            top_n=data.get("top_n"),
            rank_by=data.get("rank_by"),
            sensitive_ports=data.get("sensitive_ports"),
            thresholds=data.get("thresholds"),
            files=data.get("files") or (),
            account=data.get("account"),
            instance=data.get("instance") or "",
            source=data.get("source", "auto"),
            flow_log_id=data.get("flow_log_id", ""),
            interfaces=data.get("interfaces", []),
            engine=data.get("engine", "auto"),
            window_start=data.get("start_time"),
            window_end=data.get("end_time"),
            reference_tables=data.get("reference_tables") or [],
            log_format=data.get("log_format") or "",
        )

    def validate_log_format(self, value: str) -> str:
        if value.strip():
            try:
                return FlowFormat.from_text(value).log_format
            except ValueError as exc:
                raise serializers.ValidationError(str(exc)) from exc
        return ""

    def _time(self, value: str) -> Any:
        if not value:
            return None
        try:
            return parse_time(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def validate_start_time(self, value: str) -> Any:
        return self._time(value)

    def validate_end_time(self, value: str) -> Any:
        return self._time(value)

    def validate_sensitive_ports(self, value: dict[str, str]) -> dict[str, str]:
        try:
            ports = parse_sensitive_ports(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return {str(port): name for port, name in ports.items()}

    def validate_thresholds(self, value: dict[str, float]) -> dict[str, float]:
        if not all(math.isfinite(number) for number in value.values()):
            raise serializers.ValidationError("Thresholds must be finite numbers.")
        try:
            parse_thresholds(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value


FINDING_CHANGES = ("new", "updated")


class FindingSerializer(serializers.ModelSerializer):
    """One finding identity of an investigation; every run that saw it is a sighting."""

    severity = serializers.FloatField()
    severity_label = serializers.CharField(read_only=True)
    assignee = serializers.CharField(
        source="assignee.username", read_only=True, allow_null=True, default=None
    )
    identity = serializers.CharField(
        read_only=True,
        help_text='Detection (or type) | actor ("campaign" for one) | target: one finding '
        "across the investigation's runs. Empty for a finding made outside a run's detections.",
    )
    sighting_count = serializers.IntegerField(
        read_only=True, help_text="How many runs saw it (`sightings/` lists them)."
    )
    first_run = serializers.IntegerField(
        source="run_id", read_only=True, help_text="The run that first raised it."
    )
    last_run = serializers.IntegerField(
        source="last_run_id",
        read_only=True,
        allow_null=True,
        help_text="The latest run that saw it.",
    )
    change = serializers.SerializerMethodField(
        help_text="What its latest change was: `new` (raised by a run, unchanged since) or "
        "`updated` (seen again by a later run, or triaged)."
    )

    class Meta:
        model = Finding
        fields = [
            "id",
            "investigation",
            "run",
            "type",
            "severity",
            "severity_label",
            "title",
            "explanation",
            "evidence",
            "first_seen",
            "last_seen",
            "status",
            "assignee",
            "triage_comment",
            "created_at",
            "updated_at",
            "change_number",
            "identity",
            "sighting_count",
            "first_run",
            "last_run",
            "change",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=FINDING_CHANGES))
    def get_change(self, finding: Finding) -> str:
        return "new" if finding.change_number == finding.run.change_number else "updated"


class FindingSightingSerializer(serializers.ModelSerializer):
    """One run that saw a finding: when, how severe (and whether that rose), with its
    evidence."""

    severity = serializers.FloatField()
    severity_label = serializers.CharField(read_only=True)
    previous_severity = serializers.FloatField(
        allow_null=True, help_text="The finding's severity before this sighting (none: its first)."
    )
    severity_rose = serializers.BooleanField(read_only=True)
    flows = serializers.IntegerField(read_only=True, allow_null=True)
    bytes = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = FindingSighting
        fields = [
            "id",
            "finding",
            "run",
            "first_seen",
            "last_seen",
            "severity",
            "severity_label",
            "previous_severity",
            "severity_rose",
            "title",
            "flows",
            "bytes",
            "evidence",
            "created_at",
        ]
        read_only_fields = fields


class ResultPageSerializer(serializers.Serializer):
    """One page of an analysis's rows (documents the response; rows are plain objects)."""

    run = serializers.IntegerField()
    analysis = serializers.CharField()
    title = serializers.CharField()
    columns = serializers.ListField(child=serializers.CharField())
    total_groups = serializers.IntegerField()
    row_count = serializers.IntegerField()
    truncated = serializers.BooleanField()
    summary = serializers.DictField()
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    rows = serializers.ListField(child=serializers.DictField())


class ChangedRowSerializer(serializers.Serializer):
    key = serializers.DictField(help_text="The group: the row's key columns.")
    before = serializers.DictField(help_text="Its measures in the earlier run.")
    after = serializers.DictField(help_text="Its measures in the later run.")


class AnalysisComparisonSerializer(serializers.Serializer):
    analysis = serializers.CharField()
    title = serializers.CharField()
    comparable = serializers.BooleanField(
        help_text="False when the runs grouped the analysis by different columns."
    )
    key_columns = serializers.ListField(child=serializers.CharField())
    measure_columns = serializers.ListField(child=serializers.CharField())
    added_count = serializers.IntegerField()
    removed_count = serializers.IntegerField()
    changed_count = serializers.IntegerField()
    unchanged_count = serializers.IntegerField()
    added = serializers.ListField(
        child=serializers.DictField(), help_text="Rows only the later run has (listing capped)."
    )
    removed = serializers.ListField(
        child=serializers.DictField(), help_text="Rows only the earlier run has (listing capped)."
    )
    changed = ChangedRowSerializer(many=True)
    notes = serializers.ListField(
        child=serializers.CharField(), help_text="Why a comparison may be partial."
    )


class RunComparisonSerializer(serializers.Serializer):
    """Two runs compared, the earlier as `before` (see investigations.compare)."""

    before = serializers.IntegerField(source="before.pk")
    after = serializers.IntegerField(source="after.pk")
    only_before = serializers.SerializerMethodField()
    only_after = serializers.SerializerMethodField()
    notes = serializers.ListField(child=serializers.CharField())
    analyses = AnalysisComparisonSerializer(many=True)

    def get_only_before(self, obj: Any) -> list[str]:
        return [name for name, _title in obj.only_before]

    def get_only_after(self, obj: Any) -> list[str]:
        return [name for name, _title in obj.only_after]


class NoteSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True)

    class Meta:
        model = Note
        fields = ["id", "author", "text", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class FindingStatusSerializer(serializers.Serializer):
    """Triage: any of a new status, an assignee (username; empty or null unassigns) and a
    comment."""

    status = serializers.ChoiceField(choices=FindingStatus.choices, required=False)
    assignee = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class ReferenceVersionSerializer(serializers.ModelSerializer):
    table = serializers.CharField(source="table.name", read_only=True)
    uploaded_by = serializers.CharField(source="uploaded_by.username", read_only=True)

    class Meta:
        model = ReferenceTableVersion
        fields = [
            "id",
            "table",
            "number",
            "original_name",
            "sha256",
            "file_format",
            "row_count",
            "uploaded_by",
            "uploaded_at",
        ]
        read_only_fields = fields


class ReferenceTableSerializer(serializers.ModelSerializer):
    latest = ReferenceVersionSerializer(read_only=True)
    owner = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = ReferenceTable
        fields = [
            "id",
            "kind",
            "name",
            "description",
            "owner",
            "shared_editable",
            "created_at",
            "updated_at",
            "latest",
        ]
        read_only_fields = fields


class ReferenceSharingSerializer(serializers.Serializer):
    shared_editable = serializers.BooleanField(
        help_text="Let every analyst publish new versions (owner or admin only)."
    )


class ReferenceUploadSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ReferenceKind.choices)
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    file = serializers.FileField()


class AttackIdSerializer(serializers.Serializer):
    """A MITRE ATT&CK tactic or technique: its id and name."""

    id = serializers.CharField()
    name = serializers.CharField()


class DetectionParameterSerializer(serializers.Serializer):
    """A detection parameter: set it as a run threshold of this name."""

    name = serializers.CharField()
    default = serializers.FloatField()
    meaning = serializers.CharField()


class DetectionSerializer(serializers.Serializer):
    """One detection of the catalogue."""

    id = serializers.CharField()
    type = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    tactics = AttackIdSerializer(many=True)
    techniques = AttackIdSerializer(many=True)
    severity = serializers.FloatField()
    severity_rises = serializers.CharField()
    parameters = DetectionParameterSerializer(many=True)


class DetectionCatalogueSerializer(serializers.Serializer):
    """Every detection the engine runs."""

    count = serializers.IntegerField()
    results = DetectionSerializer(many=True)
