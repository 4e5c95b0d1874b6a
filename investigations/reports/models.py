"""A report export: the record of one rendering (inline or by a worker) and of its file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone


class ReportFormat(models.TextChoices):
    MARKDOWN = "md", "Markdown"
    PDF = "pdf", "PDF"


class ReportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


# The render task's hard time limit: an export still "running" after it lost its worker (killed
# machine, OOM) and is taken over by the message's redelivery or a new request.
RENDER_TIME_LIMIT_SECONDS = 1800

CONTENT_TYPES = {
    ReportFormat.MARKDOWN: "text/markdown; charset=utf-8",
    ReportFormat.PDF: "application/pdf",
}


def reports_dir() -> Path:
    folder = Path(settings.DATA_DIR) / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class ReportExport(models.Model):
    """One report of one investigation in one format, as requested by one user."""

    investigation = models.ForeignKey(
        "investigations.Investigation", on_delete=models.CASCADE, related_name="report_exports"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="report_exports"
    )
    format = models.CharField(max_length=8, choices=ReportFormat.choices)
    status = models.CharField(
        max_length=16, choices=ReportStatus.choices, default=ReportStatus.QUEUED, db_index=True
    )
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    storage_key = models.CharField(max_length=100, blank=True, help_text="File under DATA_DIR.")
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_format_display()} report #{self.pk} of {self.investigation_id}"

    def get_absolute_url(self) -> str:
        return reverse("investigations:report_job", args=[self.pk])

    @property
    def filename(self) -> str:
        return f"investigation-{self.investigation_id}-report.{self.format}"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[ReportFormat(self.format)]

    @property
    def path(self) -> Path:
        return reports_dir() / self.storage_key

    @property
    def is_active(self) -> bool:
        return self.status in (ReportStatus.QUEUED, ReportStatus.RUNNING)

    @staticmethod
    def claimable() -> models.Q:
        """Queued, or running for longer than a render may last (its worker is gone)."""
        dead = timezone.now() - timedelta(seconds=RENDER_TIME_LIMIT_SECONDS)
        return models.Q(status=ReportStatus.QUEUED) | models.Q(
            status=ReportStatus.RUNNING, started_at__lt=dead
        )

    @classmethod
    def claim(cls, pk: int) -> ReportExport | None:
        """→ running for exactly one caller; None when taken (and alive), finished or gone."""
        with transaction.atomic():
            won = cls.objects.filter(cls.claimable(), pk=pk).update(
                status=ReportStatus.RUNNING, started_at=timezone.now(), stage="Starting", progress=0
            )
        return cls.objects.get(pk=pk) if won else None

    def report_progress(self, percent: int, stage: str) -> None:
        ReportExport.objects.filter(pk=self.pk, status=ReportStatus.RUNNING).update(
            progress=max(0, min(99, percent)), stage=stage[:200]
        )
