"""API for reports: an investigation's report (Markdown or PDF), the exports workers render, and
the managers' findings summary across investigations (the summary page's numbers as JSON)."""

from __future__ import annotations

from typing import Any

from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from investigations.access import get_investigation_for_user
from investigations.reports.models import ReportExport, ReportFormat
from investigations.reports.services import UnknownReportFormat, request_report
from investigations.reports.summary import (
    DEFAULT_DAYS,
    MAX_DAYS,
    SEVERITIES,
    STATUSES,
    SummaryPeriodForm,
    TypeRow,
    findings_summary,
)
from investigations.reports.views import attachment, get_export_for_user, stored_file
from portal.api.permissions import TokenHasScope, hidden_analyses
from portal.audit import client_ip_of
from portal.models import ApiToken


class ReportExportSerializer(serializers.ModelSerializer):
    investigation = serializers.IntegerField(source="investigation_id", read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    download = serializers.SerializerMethodField()

    class Meta:
        model = ReportExport
        fields = [
            "id",
            "investigation",
            "requested_by",
            "format",
            "status",
            "progress",
            "stage",
            "error",
            "size",
            "sha256",
            "created_at",
            "finished_at",
            "download",
        ]
        read_only_fields = fields

    def get_download(self, export: ReportExport) -> str | None:
        """Where to fetch the file once a worker has stored it (None before, or when inline)."""
        if export.status == "succeeded" and export.storage_key:
            return f"/api/v1/reports/{export.pk}/download/"
        return None


def _check_findings_scope(request: Request) -> None:
    """A report holds the findings: through a token it needs `read:findings` as well."""
    if hidden_analyses(request):
        raise PermissionDenied("A report holds findings: this API token needs read:findings too.")


def _token_id(request: Request) -> int | None:
    return request.auth.pk if isinstance(request.auth, ApiToken) else None


class InvestigationReportView(APIView):
    """The investigation's report for whoever may see the investigation."""

    permission_classes = [IsAuthenticated, TokenHasScope]
    required_scopes = {"GET": "read:investigations"}

    @extend_schema(
        operation_id="investigations_report",
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=list(ReportFormat.values),
                description="`md` (default) or `pdf`.",
            )
        ],
        responses={
            (200, "text/markdown"): OpenApiResponse(OpenApiTypes.BINARY, description="The report."),
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The report."
            ),
            202: OpenApiResponse(
                ReportExportSerializer,
                description="A large investigation: a worker renders it; poll the export.",
            ),
        },
    )
    def get(self, request: Request, pk: int) -> HttpResponseBase:
        investigation = get_investigation_for_user(request.user, pk)
        _check_findings_scope(request)
        try:
            export, content = request_report(
                user=request.user,
                investigation=investigation,
                fmt=request.query_params.get("format") or ReportFormat.MARKDOWN,
                client_ip=client_ip_of(request),
                api_token_id=_token_id(request),
            )
        except UnknownReportFormat as exc:
            raise serializers.ValidationError({"format": str(exc)}) from exc
        if content is not None:
            return attachment(export, content)
        return Response(ReportExportSerializer(export).data, status=status.HTTP_202_ACCEPTED)


class ReportExportView(APIView):
    permission_classes = [IsAuthenticated, TokenHasScope]
    required_scopes = {"GET": "read:investigations"}

    @extend_schema(operation_id="reports_retrieve", responses={200: ReportExportSerializer})
    def get(self, request: Request, pk: int) -> Response:
        _check_findings_scope(request)
        return Response(ReportExportSerializer(get_export_for_user(request.user, pk)).data)


class ReportFileView(APIView):
    permission_classes = [IsAuthenticated, TokenHasScope]
    required_scopes = {"GET": "read:investigations"}

    @extend_schema(
        operation_id="reports_download",
        description="The rendered report file (404, a JSON error: no such export, or no file yet).",
        responses={
            (200, "text/markdown"): OpenApiResponse(OpenApiTypes.BINARY),
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY),
        },
    )
    def get(self, request: Request, pk: int) -> HttpResponseBase:
        _check_findings_scope(request)
        return stored_file(get_export_for_user(request.user, pk))


class SummaryTypeRowSerializer(serializers.Serializer):
    """One finding type's line of the summary (or the total over every type)."""

    type = serializers.CharField()
    findings = serializers.IntegerField()
    severities = inline_serializer(
        "FindingsSummarySeverities", {name: serializers.IntegerField() for name in SEVERITIES}
    )
    statuses = inline_serializer(
        "FindingsSummaryStatuses", {name: serializers.IntegerField() for name in STATUSES}
    )
    triaged = serializers.IntegerField(help_text="Findings triaged at least once.")
    median_hours_to_triage = serializers.FloatField(
        allow_null=True, help_text="From the finding's creation to its first triage change."
    )
    mean_hours_to_triage = serializers.FloatField(allow_null=True)


class FindingsSummarySerializer(serializers.Serializer):
    since = serializers.DateField()
    until = serializers.DateField()
    investigations = serializers.IntegerField(help_text="Investigations with findings in it.")
    total = SummaryTypeRowSerializer()
    by_type = SummaryTypeRowSerializer(many=True, help_text="Most findings first.")


def _row_data(row: TypeRow) -> dict[str, Any]:
    return {
        "type": row.type,
        "findings": row.findings,
        "severities": dict(row.severities),
        "statuses": {name: row.statuses.get(name, 0) for name in STATUSES},
        "triaged": len(row.triage_hours),
        "median_hours_to_triage": row.median_hours,
        "mean_hours_to_triage": row.mean_hours,
    }


class FindingsSummaryView(APIView):
    """Findings raised in a period across every investigation the caller may see (managers and
    admins: all of them): by type, severity and status, with time to first triage. The same
    numbers as the summary page and its CSV; one object, not paginated (a line per type)."""

    permission_classes = [IsAuthenticated, TokenHasScope]
    required_scopes = {"GET": "read:findings"}

    @extend_schema(
        operation_id="findings_summary",
        parameters=[
            OpenApiParameter(
                "since",
                OpenApiTypes.DATE,
                description=f"First day (UTC) of the period; default {DEFAULT_DAYS} days "
                "before `until`.",
            ),
            OpenApiParameter(
                "until",
                OpenApiTypes.DATE,
                description=f"Last day (UTC), included; default today. At most {MAX_DAYS} days.",
            ),
        ],
        responses={200: FindingsSummarySerializer},
    )
    def get(self, request: Request) -> Response:
        form = SummaryPeriodForm(
            {name: request.query_params.get(name) for name in ("since", "until")}
        )
        if not form.is_valid():
            errors = {
                "non_field_errors" if name == "__all__" else name: messages
                for name, messages in form.errors.items()
            }
            raise serializers.ValidationError(errors)
        summary = findings_summary(
            request.user, since=form.cleaned_data["since"], until=form.cleaned_data["until"]
        )
        data = {
            "since": summary.since,
            "until": summary.until,
            "investigations": summary.investigations,
            "total": _row_data(summary.total),
            "by_type": [_row_data(row) for row in summary.by_type],
        }
        return Response(FindingsSummarySerializer(data).data)
