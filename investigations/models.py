"""Investigations, the query runs inside them, uploaded flow-log files and stored results."""

from __future__ import annotations

import unicodedata
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone

from investigations.choices import (
    ACTIVE_RUN_STATUSES,
    RUN_TRANSITIONS,
    FindingStatus,
    InvestigationStatus,
    ReferenceKind,
    RunSource,
    RunStatus,
    severity_label,
)
from investigations.querysets import (
    FindingQuerySet,
    InvestigationQuerySet,
    QueryRunQuerySet,
    SuppressionRuleQuerySet,
)
from portal.sequences import next_change_number


class IllegalRunTransition(Exception):
    """A run was asked to move to a status it cannot reach from its current one."""


TAG_MAX_LENGTH = 50
MAX_TAGS_PER_INVESTIGATION = 20


class Tag(models.Model):
    """A label investigations share ("ssh", "customer acme"); its name is stored normalised, so
    "SSH " and "ssh" are one tag and filtering is an exact match on any database."""

    name = models.CharField(max_length=TAG_MAX_LENGTH, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(name=""), name="tag_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def normalise(raw: str) -> str:
        """The stored form of a tag name: NFKC, lower case, inner whitespace as one space.
        ValueError says why a name cannot be a tag."""
        name = " ".join(unicodedata.normalize("NFKC", str(raw)).lower().split())
        if not name:
            raise ValueError("A tag needs at least one visible character.")
        if "," in name:
            raise ValueError(f"Tag {name!r}: commas separate tags and cannot be part of one.")
        if any(unicodedata.category(char).startswith("C") for char in name):
            raise ValueError(f"Tag {name!r} contains control or invisible characters.")
        if len(name) > TAG_MAX_LENGTH:
            raise ValueError(f"Tag {name[:20]!r}… is longer than {TAG_MAX_LENGTH} characters.")
        return name


class Investigation(models.Model):
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=16, choices=InvestigationStatus.choices, default=InvestigationStatus.OPEN
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_investigations"
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="shared_investigations"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_investigations",
        help_text="Who is working on it now: always the owner or a member.",
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="investigations")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = InvestigationQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("investigations:detail", args=[self.pk])

    def assignable_users(self) -> Any:
        """Who may be assigned: the people who can work on it, its owner and its members."""
        from django.contrib.auth import get_user_model

        return (
            get_user_model()
            .objects.filter(models.Q(pk=self.owner_id) | models.Q(shared_investigations=self))
            .filter(is_active=True)
            .distinct()
            .order_by("username")
        )

    def audience(self) -> list[Any]:
        """Everyone who may see this investigation: owner, members, managers and admins."""
        from django.contrib.auth import get_user_model

        from portal.roles import Role

        return list(
            get_user_model()
            .objects.filter(
                models.Q(pk=self.owner_id)
                | models.Q(shared_investigations=self)
                | models.Q(groups__name__in=[Role.MANAGER, Role.ADMIN])
                | models.Q(is_superuser=True)
            )
            .filter(is_active=True)
            .distinct()
        )


class UploadedLog(models.Model):
    """A flow-log file an analyst uploaded; stored under DATA_DIR with a generated, safe name."""

    investigation = models.ForeignKey(
        Investigation, on_delete=models.CASCADE, related_name="uploads"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    original_name = models.CharField(max_length=255)
    storage_key = models.CharField(max_length=100, unique=True)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    purged_at = models.DateTimeField(
        null=True, blank=True, help_text="When retention removed the file (its hash stays)."
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.original_name

    @property
    def path(self) -> str:
        return str(settings.UPLOAD_DIR / self.storage_key)


class QueryRun(models.Model):
    """One analysis request and the record of its execution; the queue only carries its id."""

    investigation = models.ForeignKey(Investigation, on_delete=models.CASCADE, related_name="runs")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="query_runs"
    )
    analyses = models.JSONField(default=list)
    parameters = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=16, choices=RunSource.choices, default=RunSource.FILE)
    source_config = models.JSONField(default=dict, blank=True)
    uploads = models.ManyToManyField(UploadedLog, blank=True, related_name="runs")
    reference_versions: models.ManyToManyField[ReferenceTableVersion, Any] = models.ManyToManyField(
        "ReferenceTableVersion",
        blank=True,
        related_name="runs",
        help_text="The exact reference-table versions this run used.",
    )
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)

    status = models.CharField(
        max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True
    )
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=200, blank=True)
    records_so_far = models.BigIntegerField(
        default=0, help_text="Flow records loaded so far, while the run is loading."
    )
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="How many times a worker has started this run."
    )
    worker = models.CharField(max_length=200, blank=True, help_text="The worker that ran it last.")
    change_number = models.BigIntegerField(
        default=0, db_index=True, help_text="Commit-ordered number of the last status change."
    )
    parts_total = models.PositiveSmallIntegerField(
        default=0, help_text="In how many parts other workers fetch this run's data (0: none)."
    )
    parts_done = models.PositiveSmallIntegerField(default=0)

    records = models.JSONField(default=dict, blank=True)
    data_read = models.JSONField(default=dict, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    objects = QueryRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Run #{self.pk} ({', '.join(self.analyses)})"

    def get_absolute_url(self) -> str:
        return reverse("investigations:run_detail", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_RUN_STATUSES

    def reference_changes(self) -> list[tuple[ReferenceTableVersion, ReferenceTableVersion]]:
        """(used, latest) for each reference table this run used that has a newer version
        now: its results reflect the table as it was, not as it is."""
        changes = []
        for used in self.reference_versions.select_related("table").order_by("table__name"):
            latest = used.table.latest
            if latest is not None and latest.number > used.number:
                changes.append((used, latest))
        return changes

    @property
    def unreadable_files(self) -> list[dict[str, Any]]:
        """The files (uploads or fetched objects) the load had to skip whole, with why."""
        files = (self.records or {}).get("files") or []
        return [item for item in files if isinstance(item, dict) and item.get("error")]

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()

    # State changes. Each is a conditional UPDATE on the current status, so two workers (or a
    # worker and a cancel) cannot both win, and an illegal move is refused before touching the row.

    def _transition(self, new: str, **fields: Any) -> bool:
        if new not in RUN_TRANSITIONS[self.status]:
            raise IllegalRunTransition(f"A {self.status} run cannot become {new}.")
        now = timezone.now()
        fields.update(status=new, updated_at=now)
        with transaction.atomic():
            updated = QueryRun.objects.filter(pk=self.pk, status=self.status).update(**fields)
            if updated:
                fields["change_number"] = next_change_number()
                QueryRun.objects.filter(pk=self.pk).update(change_number=fields["change_number"])
        if updated:
            for name, value in fields.items():
                setattr(self, name, value)
        return bool(updated)

    @classmethod
    def claim(cls, run_id: int, *, worker: str = "") -> QueryRun | None:
        """queued → running for exactly one caller; None if the run is gone or already taken."""
        now = timezone.now()
        with transaction.atomic():
            won = cls.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
                status=RunStatus.RUNNING,
                started_at=now,
                heartbeat_at=now,
                updated_at=now,
                stage="Starting",
                progress=0,
                records_so_far=0,
                parts_total=0,
                parts_done=0,
                attempts=models.F("attempts") + 1,
                worker=worker[:200],
            )
            if won:
                cls.objects.filter(pk=run_id).update(change_number=next_change_number())
        return cls.objects.get(pk=run_id) if won else None

    @classmethod
    def touch_heartbeat(cls, run_id: int) -> None:
        cls.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(heartbeat_at=timezone.now())

    def requeue(self, *, reason: str) -> bool:
        """running → queued after its worker died; the next worker starts it afresh."""
        return self._transition(
            RunStatus.QUEUED,
            stage=f"Requeued: {reason}"[:200],
            progress=0,
            records_so_far=0,
            parts_total=0,
            parts_done=0,
            started_at=None,
            heartbeat_at=None,
        )

    def mark_succeeded(self, *, records: dict[str, Any], data_read: dict[str, Any]) -> bool:
        return self._transition(
            RunStatus.SUCCEEDED,
            progress=100,
            stage="Finished",
            records=records,
            data_read=data_read,
            finished_at=timezone.now(),
        )

    def mark_failed(self, *, error: str, records: dict[str, Any] | None = None) -> bool:
        fields: dict[str, Any] = {
            "error": error[:10_000],
            "finished_at": timezone.now(),
            "stage": "Failed",
        }
        if records is not None:
            fields["records"] = records
        return self._transition(RunStatus.FAILED, **fields)

    def mark_cancelled(self) -> bool:
        return self._transition(RunStatus.CANCELLED, stage="Cancelled", finished_at=timezone.now())

    def report_progress(self, *, percent: int, stage: str, records: int | None = None) -> None:
        """Progress and heartbeat; only while running, never moving a finished run."""
        now = timezone.now()
        fields: dict[str, Any] = {
            "progress": max(0, min(99, percent)),
            "stage": stage[:200],
            "heartbeat_at": now,
            "updated_at": now,
        }
        if records is not None:
            fields["records_so_far"] = max(0, records)
        QueryRun.objects.filter(pk=self.pk, status=RunStatus.RUNNING).update(**fields)

    def cancel_was_requested(self) -> bool:
        return QueryRun.objects.filter(pk=self.pk, cancel_requested=True).exists()


class RunResult(models.Model):
    """One analysis's output for a run: its columns and totals; rows live in ResultRow."""

    run = models.ForeignKey(QueryRun, on_delete=models.CASCADE, related_name="results")
    analysis = models.CharField(max_length=100)
    title = models.CharField(max_length=200)
    position = models.PositiveSmallIntegerField(default=0)
    columns = models.JSONField(default=list)
    row_count = models.PositiveIntegerField(default=0)
    total_groups = models.PositiveIntegerField(default=0)
    truncated = models.BooleanField(default=False)
    summary = models.JSONField(default=dict, blank=True)
    annotations = models.JSONField(
        default=dict, blank=True, help_text="Per address: alias, kind, organisation (WHOIS)."
    )

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "analysis"], name="one_result_per_analysis")
        ]

    def __str__(self) -> str:
        return f"{self.analysis} of run #{self.run_id}"


class ResultRow(models.Model):
    """A row of a result table, in rank order, so pages and the API can page through it."""

    result = models.ForeignKey(RunResult, on_delete=models.CASCADE, related_name="rows")
    position = models.PositiveIntegerField()
    data = models.JSONField()

    class Meta:
        ordering = ["result", "position"]
        constraints = [
            models.UniqueConstraint(fields=["result", "position"], name="unique_row_position")
        ]

    def __str__(self) -> str:
        return f"row {self.position} of {self.result}"


class Finding(models.Model):
    """A detection from a run (GuardDuty-style type and severity) that analysts triage."""

    investigation = models.ForeignKey(
        Investigation, on_delete=models.CASCADE, related_name="findings"
    )
    run = models.ForeignKey(
        QueryRun,
        on_delete=models.CASCADE,
        related_name="findings",
        help_text="The run that first raised it; later runs that see it again add sightings.",
    )
    identity = models.CharField(
        max_length=400,
        blank=True,
        db_index=True,
        help_text="Detection (or type), actor and target: a finding's identity across runs.",
    )
    last_run = models.ForeignKey(
        QueryRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The latest run that sighted it.",
    )
    sighting_count = models.PositiveIntegerField(default=1, help_text="How many runs sighted it.")
    type = models.CharField(max_length=100, db_index=True)
    severity = models.DecimalField(max_digits=3, decimal_places=1)
    title = models.CharField(max_length=300)
    explanation = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=FindingStatus.choices, default=FindingStatus.OPEN
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_findings",
        help_text="Who triages it: the investigation's owner or a member.",
    )
    triage_comment = models.TextField(
        blank=True, help_text="The last triage comment (every one is in the timeline)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    change_number = models.BigIntegerField(
        default=0, help_text="Commit-ordered number of the last change (for incremental pulls)."
    )

    objects = FindingQuerySet.as_manager()

    class Meta:
        ordering = ["-severity", "-last_seen", "-id"]
        indexes = [
            models.Index(fields=["updated_at", "id"]),
            models.Index(fields=["change_number", "id"]),
        ]
        constraints = [
            # Findings made outside a run's detections (no identity) are never merged.
            models.UniqueConstraint(
                fields=["investigation", "identity"],
                condition=~models.Q(identity=""),
                name="unique_finding_identity",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} ({self.severity})"

    @property
    def severity_label(self) -> str:
        return severity_label(float(self.severity))


class FindingSighting(models.Model):
    """One run seeing a finding: when, how bad, and the evidence that run had."""

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="sightings")
    run = models.ForeignKey(QueryRun, on_delete=models.CASCADE, related_name="sightings")
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    severity = models.DecimalField(max_digits=3, decimal_places=1)
    previous_severity = models.DecimalField(
        max_digits=3,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="The finding's severity before this sighting (none for its first).",
    )
    title = models.CharField(max_length=300, blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-run_id", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["finding", "run"], name="unique_finding_sighting")
        ]

    def __str__(self) -> str:
        return f"{self.finding} in run {self.run_id}"

    @property
    def severity_label(self) -> str:
        return severity_label(float(self.severity))

    @property
    def severity_rose(self) -> bool:
        return self.previous_severity is not None and self.severity > self.previous_severity

    def _figure(self, name: str) -> Any:
        return self.evidence.get(name) if isinstance(self.evidence, dict) else None

    @property
    def flows(self) -> Any:
        """The flows this run's evidence counted (None when it counted none)."""
        return self._figure("flows")

    @property
    def bytes(self) -> Any:
        return self._figure("bytes")


class Note(models.Model):
    """A timestamped remark by an analyst in an investigation's timeline."""

    investigation = models.ForeignKey(Investigation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Note by {self.author_id} on {self.investigation_id}"


class ReferenceTable(models.Model):
    """A named lookup table, CIDR table or known-hosts list; its content lives in versions."""

    kind = models.CharField(max_length=16, choices=ReferenceKind.choices)
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The table's owner: they (and admins) publish its versions.",
    )
    shared_editable = models.BooleanField(
        default=False,
        help_text="The owner lets every analyst publish new versions, not only owner and admins.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("investigations:reference_detail", args=[self.pk])

    @property
    def latest(self) -> ReferenceTableVersion | None:
        return self.versions.order_by("-number").first()


class ReferenceTableVersion(models.Model):
    """One uploaded content of a reference table, parsed and checked; runs record which they
    used, so a result can always be traced to the exact table."""

    table = models.ForeignKey(ReferenceTable, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    original_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    file_format = models.CharField(max_length=32, help_text="How the file was read.")
    row_count = models.PositiveIntegerField()
    data = models.JSONField(help_text="The parsed entries, as the analyzers take them.")

    class Meta:
        ordering = ["table", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["table", "number"], name="unique_table_version")
        ]

    def __str__(self) -> str:
        return f"{self.table.name} v{self.number}"


class WhoisRecord(models.Model):
    """Cached WHOIS/RDAP answer for one address (negative answers too, for a shorter time)."""

    ip = models.GenericIPAddressField(unique=True)
    status = models.CharField(max_length=16)
    info = models.JSONField()
    fetched_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.ip}: {self.info.get('label', '')}"


class SuppressionRule(models.Model):
    """Findings an analyst has judged expected (an authorised scanner, a known backup job):
    later runs list the findings it matches apart, counted and named, never silently gone.

    A rule belongs to one investigation, or to none (global: every investigation's runs honour
    it; admins only). It is disabled, never deleted, so past runs still say which rule applied.
    """

    investigation = models.ForeignKey(
        Investigation,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="suppression_rules",
        help_text="The investigation whose runs honour it; empty for every investigation.",
    )
    name = models.CharField(max_length=100, help_text="A short name, e.g. “authorised scanner”.")
    reason = models.CharField(max_length=500, help_text="Why these findings are expected.")
    detection = models.CharField(
        max_length=64, default="*", help_text="A detection id from the catalogue, or * for all."
    )
    actor = models.CharField(
        max_length=64, blank=True, help_text="The actor's address or CIDR (empty: any actor)."
    )
    target = models.CharField(
        max_length=64, blank=True, help_text="The target's address or CIDR (empty: any target)."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="After this time runs no longer honour it."
    )
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    objects = SuppressionRuleQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(actor="", target=""), name="suppression_needs_actor_or_target"
            ),
            models.CheckConstraint(
                condition=~models.Q(name="") & ~models.Q(reason=""),
                name="suppression_needs_name_and_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"rule '{self.name}' (#{self.pk})"

    def get_absolute_url(self) -> str:
        if self.investigation_id is None:
            return f"{reverse('investigations:suppressions_global')}#rule-{self.pk}"
        return (
            f"{reverse('investigations:suppressions', args=[self.investigation_id])}#rule-{self.pk}"
        )

    @property
    def is_global(self) -> bool:
        return self.investigation_id is None

    def state(self, now: Any = None) -> str:
        """active, expired or disabled."""
        if self.disabled_at is not None:
            return "disabled"
        if self.expires_at is not None and self.expires_at <= (now or timezone.now()):
            return "expired"
        return "active"

    @property
    def label(self) -> str:
        """How runs name it in their results: `rule 'authorised scanner' (#12)`."""
        return str(self)

    def as_engine_rule(self) -> dict[str, str]:
        """The rule as `AnalysisParams.suppressions` takes it."""
        return {
            "detection": self.detection,
            "actor": self.actor,
            "target": self.target,
            "reason": self.label,
        }

    def snapshot(self) -> dict[str, Any]:
        """What a run records of the rule it applied, so the run still explains itself after
        the rule is disabled or expires."""
        return {
            "id": self.pk,
            "name": self.name,
            "reason": self.reason,
            "label": self.label,
            "detection": self.detection,
            "actor": self.actor,
            "target": self.target,
            "investigation": self.investigation_id,
            "created_by": self.created_by.get_username() if self.created_by_id else "",
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }
