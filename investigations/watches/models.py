"""A watch repeats one AWS-sourced run over each new window; its alerts say what changed."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse

from investigations.models import Finding, Investigation, QueryRun, ReferenceTable


class WatchQuerySet(models.QuerySet["Watch"]):
    def for_user(self, user: Any) -> WatchQuerySet:
        """The watches of investigations the user can see."""
        visible = Investigation.objects.for_user(user).values("pk")
        return self.filter(investigation__in=visible)

    def due(self, now: Any) -> WatchQuerySet:
        return self.filter(paused=False, next_run_at__lte=now)


class Watch(models.Model):
    """The run request it repeats (account, instance, source, analyses, parameters, reference
    tables), who asked, how often, and where its last window ended: the next starts there."""

    investigation = models.ForeignKey(
        Investigation, on_delete=models.CASCADE, related_name="watches"
    )
    name = models.CharField(max_length=200)
    source_run = models.ForeignKey(
        QueryRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The run this watch repeats, when made from one.",
    )
    account = models.ForeignKey(
        "accounts.AwsAccount", on_delete=models.CASCADE, related_name="watches"
    )
    instance = models.CharField(
        max_length=200, help_text="The instance: id, Name tag or address, resolved at each run."
    )
    source = models.CharField(max_length=16, help_text="cloudwatch or s3.")
    flow_log_id = models.CharField(max_length=64, blank=True)
    interfaces = models.JSONField(default=list, blank=True)
    engine = models.CharField(max_length=16, default="auto")
    analyses = models.JSONField(default=list)
    parameters = models.JSONField(default=dict, blank=True)
    reference_tables = models.ManyToManyField(ReferenceTable, blank=True, related_name="watches")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="watches"
    )
    interval_minutes = models.PositiveIntegerField(help_text="How often it runs.")
    k = models.FloatField(
        default=3.0, help_text="A spike is above mean + k·sigma of the watch's earlier runs."
    )
    lag_seconds = models.PositiveIntegerField(
        help_text="How far behind now each window ends: flow logs reach AWS minutes late."
    )
    next_run_at = models.DateTimeField(db_index=True)
    last_window_end = models.DateTimeField(
        null=True, blank=True, help_text="Where the last window ended: the next one starts here."
    )
    paused = models.BooleanField(default=False)
    last_error = models.TextField(blank=True, help_text="Why its last run could not start.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WatchQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("investigations:watch_detail", args=[self.pk])

    @property
    def status(self) -> str:
        return "paused" if self.paused else "active"

    def last_alert(self) -> WatchAlert | None:
        return self.alerts.order_by("-created_at", "-id").first()


class WatchRun(models.Model):
    """One run a watch started, the window it read and the measures its baseline keeps."""

    watch = models.ForeignKey(Watch, on_delete=models.CASCADE, related_name="watch_runs")
    run = models.OneToOneField(QueryRun, on_delete=models.CASCADE, related_name="watch_run")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    rejected_flows = models.BigIntegerField(
        null=True, blank=True, help_text="REJECT flows (traffic-summary), once it succeeded."
    )
    external_bytes = models.BigIntegerField(
        null=True, blank=True, help_text="Bytes to external peers (external-summary, outbound)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-window_start", "-id"]

    def __str__(self) -> str:
        return f"{self.watch} run #{self.run_id}"


class PeerPlaceKind(models.TextChoices):
    COUNTRY = "country", "Country"
    AS_ORG = "as_org", "AS organisation"


class WatchPeerPlace(models.Model):
    """A country or AS organisation an internal host's external peers were in, in one of the
    watch's runs (the first that saw it): the history its new-country and rare-AS signals
    compare each run with."""

    watch = models.ForeignKey(Watch, on_delete=models.CASCADE, related_name="peer_places")
    host = models.CharField(max_length=45)
    kind = models.CharField(max_length=16, choices=PeerPlaceKind.choices)
    value = models.CharField(max_length=200, help_text="ISO country code or AS organisation.")
    first_run = models.ForeignKey(QueryRun, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["watch", "host", "kind", "value"], name="watch_peer_place_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.host} → {self.value} ({self.kind})"


class AlertKind(models.TextChoices):
    NEW_FINDING = "new_finding", "New finding"
    SEVERITY_RISE = "severity_rise", "Severity rose"
    REJECTED_SPIKE = "rejected_spike", "Rejected flows spiked"
    EXTERNAL_BYTES_SPIKE = "external_bytes_spike", "Bytes to external peers spiked"
    COVERAGE_GAP = "coverage_gap", "Coverage gap (SKIPDATA)"
    NEW_COUNTRY = "new_country", "Host's first peer in a country"
    RARE_AS = "rare_as", "Host's first peer in an AS organisation"


class WatchAlertQuerySet(models.QuerySet["WatchAlert"]):
    def for_user(self, user: Any) -> WatchAlertQuerySet:
        visible = Investigation.objects.for_user(user).values("pk")
        return self.filter(watch__investigation__in=visible)


class WatchAlert(models.Model):
    """Something a watch's run showed that its earlier runs did not."""

    watch = models.ForeignKey(Watch, on_delete=models.CASCADE, related_name="alerts")
    run = models.ForeignKey(QueryRun, on_delete=models.CASCADE, related_name="watch_alerts")
    kind = models.CharField(max_length=32, choices=AlertKind.choices)
    summary = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)
    finding = models.ForeignKey(
        Finding, null=True, blank=True, on_delete=models.SET_NULL, related_name="watch_alerts"
    )
    change_number = models.BigIntegerField(
        default=0, db_index=True, help_text="The run's commit-ordered change number."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WatchAlertQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.summary
