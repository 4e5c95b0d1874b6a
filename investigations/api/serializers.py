"""API representations of investigations, runs and results; shape checks only."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.reverse import reverse

from accounts.models import AwsAccount
from analysis.window import parse_time
from investigations.choices import FindingStatus, InvestigationStatus, ReferenceKind
from investigations.models import (
    Finding,
    Investigation,
    Note,
    QueryRun,
    ReferenceTable,
    ReferenceTableVersion,
    RunResult,
)


class InvestigationSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    members = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)

    class Meta:
        model = Investigation
        fields = ["id", "title", "description", "status", "owner", "members", "created_at",
                  "updated_at"]
        read_only_fields = ["id", "status", "owner", "members", "created_at", "updated_at"]


class RunResultSummarySerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = RunResult
        fields = ["analysis", "title", "columns", "row_count", "total_groups", "truncated",
                  "summary", "url"]

    def get_url(self, obj: RunResult) -> str:
        return reverse("api:run-result", args=[obj.run_id, obj.analysis],
                       request=self.context.get("request"))


class QueryRunSerializer(serializers.ModelSerializer):
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    results = serializers.SerializerMethodField()

    class Meta:
        model = QueryRun
        fields = ["id", "investigation", "requested_by", "analyses", "parameters", "source",
                  "window_start", "window_end", "status", "progress", "stage", "records_so_far",
                  "error", "cancel_requested", "records", "data_read", "created_at", "updated_at",
                  "started_at", "finished_at", "attempts", "worker", "change_number", "results"]
        read_only_fields = fields

    def get_results(self, obj: QueryRun) -> list[dict[str, Any]]:
        return RunResultSummarySerializer(
            obj.results.all(), many=True, context=self.context  # prefetched, in position order
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
    files = serializers.ListField(child=serializers.FileField(), required=False, default=list,
                                  help_text="Flow-log files (multipart); or give account and "
                                  "instance instead.")
    account = serializers.PrimaryKeyRelatedField(
        queryset=AwsAccount.objects.none(), required=False, allow_null=True,
        help_text="Read the flow log covering `instance` in this AWS account.")
    instance = serializers.CharField(required=False, allow_blank=True, max_length=200)
    source = serializers.ChoiceField(choices=["auto", "cloudwatch", "s3"], required=False,
                                     default="auto")
    flow_log_id = serializers.CharField(required=False, allow_blank=True, default="",
                                        max_length=40, help_text="Override the flow log.")
    interfaces = _CommaListField(child=serializers.CharField(max_length=40), required=False,
                                 default=list, help_text="Override the interfaces read.")
    reference_tables = serializers.PrimaryKeyRelatedField(
        queryset=ReferenceTable.objects.all(), many=True, required=False, default=list,
        help_text="Lookup, CIDR and known-hosts tables to use (their latest versions).")
    target_ips = _CommaListField(child=serializers.CharField(max_length=64), required=False,
                                 default=list)
    vpc_cidrs = _CommaListField(child=serializers.CharField(max_length=64), required=False,
                                default=list)
    port = serializers.IntegerField(required=False, allow_null=True, min_value=0,
                                    max_value=65535)
    top_n = serializers.IntegerField(required=False, default=100, min_value=1, max_value=10_000)
    rank_by = serializers.ChoiceField(choices=["flows", "bytes"], required=False, default="flows")
    start_time = serializers.CharField(required=False, allow_blank=True)
    end_time = serializers.CharField(required=False, allow_blank=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["investigation"].queryset = Investigation.objects.for_user(request.user)
            self.fields["account"].queryset = AwsAccount.objects.for_user(request.user)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("account") is None and not attrs.get("files"):
            raise serializers.ValidationError(
                {"files": ["Upload flow-log files, or give an account and an instance."]})
        if attrs.get("account") is not None and not (attrs.get("instance") or "").strip():
            raise serializers.ValidationError({"instance": ["Name the instance to read."]})
        return attrs

    def source_arguments(self) -> dict[str, Any]:
        data = self.validated_data
        if data.get("account") is not None:
            return {"account": data["account"], "instance": data["instance"].strip(),
                    "source": data.get("source", "auto"),
                    "flow_log_id": data.get("flow_log_id", "").strip(),
                    "interfaces": data.get("interfaces", [])}
        return {"files": data["files"]}

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

    def parameters(self) -> dict[str, Any]:
        data = self.validated_data
        targets = data.get("target_ips", [])
        return {
            "target_ips": [t for t in targets if "/" not in t],
            "target_cidrs": [t for t in targets if "/" in t],
            "vpc_cidrs": data.get("vpc_cidrs", []),
            "port": data.get("port"),
            "top_n": data.get("top_n", 100),
            "rank_by": data.get("rank_by", "flows"),
        }


class FindingSerializer(serializers.ModelSerializer):
    severity = serializers.FloatField()
    severity_label = serializers.CharField(read_only=True)

    class Meta:
        model = Finding
        fields = ["id", "investigation", "run", "type", "severity", "severity_label", "title",
                  "explanation", "evidence", "first_seen", "last_seen", "status", "created_at",
                  "updated_at", "change_number"]
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


class InvestigationStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=InvestigationStatus.choices)


class NoteSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True)

    class Meta:
        model = Note
        fields = ["id", "author", "text", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class FindingStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=FindingStatus.choices)


class ReferenceVersionSerializer(serializers.ModelSerializer):
    table = serializers.CharField(source="table.name", read_only=True)
    uploaded_by = serializers.CharField(source="uploaded_by.username", read_only=True)

    class Meta:
        model = ReferenceTableVersion
        fields = ["id", "table", "number", "original_name", "sha256", "file_format",
                  "row_count", "uploaded_by", "uploaded_at"]
        read_only_fields = fields


class ReferenceTableSerializer(serializers.ModelSerializer):
    latest = ReferenceVersionSerializer(read_only=True)

    class Meta:
        model = ReferenceTable
        fields = ["id", "kind", "name", "description", "created_at", "updated_at", "latest"]
        read_only_fields = fields


class ReferenceUploadSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ReferenceKind.choices)
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    file = serializers.FileField()
