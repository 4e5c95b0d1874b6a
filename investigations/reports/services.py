"""Producing reports: inline for small investigations, by a worker for large ones; every file
produced is an audit event carrying its SHA-256."""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from investigations.models import Investigation
from investigations.reports.content import Progress, build_report, size_of
from investigations.reports.markdown import render_markdown
from investigations.reports.models import (
    RENDER_TIME_LIMIT_SECONDS,
    ReportExport,
    ReportFormat,
    ReportStatus,
    reports_dir,
)
from portal import audit
from portal.celery import app

logger = logging.getLogger(__name__)

RENDER_TASK = "investigations.reports.tasks.render_report"


class UnknownReportFormat(ValueError):
    pass


def inline_max_items(fmt: str) -> int:
    """Findings plus runs up to which a report is rendered in the request (settings
    REPORT_INLINE_MAX_ITEMS for Markdown, REPORT_PDF_INLINE_MAX_ITEMS for PDF, whose layout
    costs about 0.06 s of CPU a finding); above it a worker renders it, with progress."""
    if fmt == ReportFormat.PDF:
        return int(settings.REPORT_PDF_INLINE_MAX_ITEMS)
    return int(settings.REPORT_INLINE_MAX_ITEMS)


def parse_format(value: str | None) -> ReportFormat:
    try:
        return ReportFormat(value or ReportFormat.MARKDOWN)
    except ValueError:
        raise UnknownReportFormat(
            f"Unknown report format {value!r}; use one of {', '.join(ReportFormat.values)}."
        ) from None


def produce(
    investigation: Investigation, *, user: Any, fmt: str, progress: Progress | None = None
) -> bytes:
    """The report's bytes in the format asked for."""
    fmt = parse_format(fmt)
    report = build_report(investigation, user=user, **({"progress": progress} if progress else {}))
    if progress:
        progress(85, "Laying out the PDF" if fmt == ReportFormat.PDF else "Writing Markdown")
    if fmt == ReportFormat.PDF:
        from investigations.reports.pdf import render_pdf

        return render_pdf(report)
    return render_markdown(report).encode("utf-8")


def _audit_export(
    export: ReportExport, *, client_ip: str | None, api_token_id: int | None, inline: bool
) -> None:
    audit.record(
        actor=export.requested_by,
        action="report.exported",
        target=export.investigation,
        details={
            "export": export.pk,
            "investigation": export.investigation_id,
            "format": export.format,
            "sha256": export.sha256,
            "size": export.size,
            "inline": inline,
        },
        client_ip=client_ip,
        api_token_id=api_token_id,
    )


def request_report(
    *,
    user: Any,
    investigation: Investigation,
    fmt: str,
    client_ip: str | None = None,
    api_token_id: int | None = None,
) -> tuple[ReportExport, bytes | None]:
    """(export, bytes) for a small investigation, rendered now; (export, None) for a large one,
    whose export a worker renders (an unfinished one of the same user and format is reused)."""
    fmt = parse_format(fmt)
    if size_of(investigation) <= inline_max_items(fmt):
        content = produce(investigation, user=user, fmt=fmt)
        with transaction.atomic():
            export = ReportExport.objects.create(
                investigation=investigation,
                requested_by=user,
                format=fmt,
                status=ReportStatus.SUCCEEDED,
                progress=100,
                stage="Rendered in the request",
                size=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
                started_at=timezone.now(),
                finished_at=timezone.now(),
            )
            _audit_export(export, client_ip=client_ip, api_token_id=api_token_id, inline=True)
        return export, content
    with transaction.atomic():
        active = (
            ReportExport.objects.select_for_update()
            .filter(
                investigation=investigation,
                requested_by=user,
                format=fmt,
                status__in=(ReportStatus.QUEUED, ReportStatus.RUNNING),
            )
            .exclude(
                status=ReportStatus.RUNNING,
                started_at__lt=timezone.now() - timedelta(seconds=RENDER_TIME_LIMIT_SECONDS),
            )
            .first()
        )
        if active is not None:
            return active, None
        export = ReportExport.objects.create(
            investigation=investigation, requested_by=user, format=fmt, stage="Queued"
        )
        audit.record(
            actor=user,
            action="report.requested",
            target=investigation,
            details={"export": export.pk, "format": fmt},
            client_ip=client_ip,
            api_token_id=api_token_id,
        )
        transaction.on_commit(lambda: app.send_task(RENDER_TASK, args=[export.pk]))
    return export, None


def render_export(export_id: int) -> None:
    """A worker's part: claim the export, render it with progress, store the file under
    DATA_DIR/reports and record it (and its audit event) in one transaction."""
    export = ReportExport.claim(export_id)
    if export is None:
        logger.info("Report export %s is not queued (taken or gone); skipping.", export_id)
        return
    try:
        content = produce(
            export.investigation,
            user=export.requested_by,
            fmt=export.format,
            progress=export.report_progress,
        )
        key = f"{uuid.uuid4().hex}.{export.format}"
        target = reports_dir() / key
        partial = target.with_suffix(".part")
        partial.write_bytes(content)
        os.replace(partial, target)
    except Exception as exc:  # any failure ends the export with its reason, never a stuck row
        logger.exception("Report export %s failed", export_id)
        ReportExport.objects.filter(pk=export_id, status=ReportStatus.RUNNING).update(
            status=ReportStatus.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            stage="Failed",
            finished_at=timezone.now(),
        )
        return
    with transaction.atomic():
        export.status = ReportStatus.SUCCEEDED
        export.progress = 100
        export.stage = "Finished"
        export.storage_key = key
        export.size = len(content)
        export.sha256 = hashlib.sha256(content).hexdigest()
        export.finished_at = timezone.now()
        export.save(
            update_fields=[
                "status",
                "progress",
                "stage",
                "storage_key",
                "size",
                "sha256",
                "finished_at",
            ]
        )
        _audit_export(export, client_ip=None, api_token_id=None, inline=False)


def prune_report_files(*, now: datetime | None = None) -> int:
    """Retention: stored report files older than UPLOAD_RETENTION_DAYS (0 keeps them) are
    removed; the export keeps its size and SHA-256, so an audit still matches a kept copy."""
    days = settings.UPLOAD_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    removed = 0
    stale = ReportExport.objects.filter(finished_at__lt=cutoff).exclude(storage_key="")
    for export in stale:
        export.path.unlink(missing_ok=True)
        ReportExport.objects.filter(pk=export.pk).update(
            storage_key="", stage="File removed by the retention policy"
        )
        removed += 1
    if removed:
        audit.record(
            actor=None,
            action="report.files_pruned",
            details={"files": removed, "retention_days": days},
        )
    return removed
