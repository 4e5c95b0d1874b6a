"""Report pages: download an investigation's report, follow a worker's export, and the
managers' summary across investigations (with its CSV)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET

from investigations.access import get_investigation_for_user
from investigations.choices import FindingStatus
from investigations.models import Investigation
from investigations.reports.models import ReportExport, ReportStatus
from investigations.reports.services import UnknownReportFormat, request_report
from investigations.reports.summary import (
    CSV_HEADER,
    SEVERITIES,
    STATUSES,
    SummaryPeriodForm,
    findings_summary,
)
from portal.audit import client_ip_of
from portal.csvexport import csv_response


def exports_for_user(user: object) -> QuerySet[ReportExport]:
    return ReportExport.objects.filter(investigation__in=Investigation.objects.for_user(user))


def get_export_for_user(user: object, pk: int) -> ReportExport:
    return get_object_or_404(
        exports_for_user(user).select_related("investigation", "requested_by"), pk=pk
    )


def attachment(export: ReportExport, content: bytes) -> HttpResponse:
    response = HttpResponse(content, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["X-Content-SHA256"] = export.sha256
    return response


def stored_file(export: ReportExport) -> FileResponse:
    if (
        export.status != ReportStatus.SUCCEEDED
        or not export.storage_key
        or not export.path.exists()
    ):
        raise Http404("This report has no file (not finished, or rendered in the request).")
    response = FileResponse(
        export.path.open("rb"),
        as_attachment=True,
        filename=export.filename,
        content_type=export.content_type,
    )
    response["X-Content-SHA256"] = export.sha256
    return response


@require_GET
def report_download(request: HttpRequest, pk: int, fmt: str) -> HttpResponseBase:
    """The investigation's report: the file at once when small, else the export's page."""
    investigation = get_investigation_for_user(request.user, pk)
    try:
        export, content = request_report(
            user=request.user, investigation=investigation, fmt=fmt, client_ip=client_ip_of(request)
        )
    except UnknownReportFormat as exc:
        raise Http404(str(exc)) from None
    if content is not None:
        return attachment(export, content)
    return redirect(export)


@require_GET
def report_job(request: HttpRequest, pk: int) -> HttpResponse:
    export = get_export_for_user(request.user, pk)
    return render(request, "investigations/report_job.html", {"export": export})


@require_GET
def report_file(request: HttpRequest, pk: int) -> FileResponse:
    return stored_file(get_export_for_user(request.user, pk))


@require_GET
def findings_summary_page(request: HttpRequest) -> HttpResponseBase:
    """Findings raised in a period across every investigation the user may see."""
    form = SummaryPeriodForm(request.GET)
    if not form.is_valid():
        return render(
            request,
            "investigations/report_summary.html",
            {"form": form, "summary": None},
            status=400,
        )
    summary = findings_summary(
        request.user, since=form.cleaned_data["since"], until=form.cleaned_data["until"]
    )
    if form.cleaned_data.get("format") == "csv":
        rows = [row.csv_row() for row in summary.by_type] + [summary.total.csv_row()]
        return csv_response(
            f"findings-summary-{summary.since}-{summary.until}.csv", CSV_HEADER, rows
        )
    return render(
        request,
        "investigations/report_summary.html",
        {
            "form": form,
            "summary": summary,
            "severities": SEVERITIES,
            "statuses": [dict(FindingStatus.choices)[s] for s in STATUSES],
            "query": f"since={summary.since}&until={summary.until}",
        },
    )
