"""Site-wide records: the append-only, hash-chained audit log and hashed API tokens."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from portal.audit_chain import AuditKey


class AuditLogIsAppendOnly(Exception):
    """Raised on any attempt to change or delete an audit event."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AuditLogIsAppendOnly("Audit events cannot be changed.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly("Audit events cannot be deleted.")

    def for_user(self, user: Any) -> AuditEventQuerySet:
        from portal.roles import can_read_audit

        return self if can_read_audit(user) else self.none()


class AuditEvent(models.Model):
    """Who did what to which object, when, from where; each row's hash covers the previous one."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The actor as they were when it happened: kept (and hashed) when the user is deleted.
    actor_user_id = models.BigIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=255, blank=True)
    details = models.JSONField(default=dict, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True, default="")
    api_token_id = models.BigIntegerField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, blank=True)
    # Which key signed `hash` (a fingerprint, see portal.audit_chain), so keys can rotate.
    key_id = models.CharField(max_length=16, blank=True, default="")

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_name or '-'} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AuditLogIsAppendOnly("Audit events cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly("Audit events cannot be deleted.")

    def compute_hash(self, key: AuditKey | None = None) -> str:
        """HMAC-SHA256 over the previous hash and this event's content, in a canonical form,
        under `key` (by default the key named by `key_id`, else the current signing key)."""
        from portal import audit_chain

        if key is None:
            key = (
                audit_chain.verifying_keys().get(self.key_id)
                if self.key_id
                else audit_chain.signing_key()
            )
            if key is None:
                raise audit_chain.AuditKeyError(f"no configured key has id {self.key_id}")
        return audit_chain.event_hash(self, key)


class ApiTokenQuerySet(models.QuerySet):
    def active(self) -> ApiTokenQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A named integration's bearer token; only its SHA-256 is stored, the secret is shown once."""

    SCOPES = (
        ("read:investigations", "Read investigations, runs and results"),
        ("read:findings", "Read findings"),
        ("write:runs", "Create and cancel runs"),
        ("write:investigations", "Create and update investigations"),
        ("read:audit", "Read the audit log"),
    )

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="unique_token_name_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class ChangeSequence(models.Model):
    """A named counter whose increments follow commit order (see portal.sequences)."""

    name = models.CharField(max_length=50, primary_key=True)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class ConcurrencySlot(models.Model):
    """One of a limited number of slots for work on a shared resource (e.g. one AWS account),
    held until released or until its lease runs out, so a dead worker's slot frees itself.

    The unique (scope, slot) pair is what enforces the limit, across every worker process:
    two claimants of one free slot cannot both insert it (see portal.concurrency)."""

    scope = models.CharField(max_length=100)
    slot = models.PositiveSmallIntegerField()
    holder = models.CharField(max_length=200)
    acquired_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "slot"], name="one_holder_per_slot")
        ]

    def __str__(self) -> str:
        return f"{self.scope}#{self.slot} held by {self.holder}"


class IdempotencyRecord(models.Model):
    """Remembers an API request made with an Idempotency-Key so a retry gets the same answer."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    scope = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64)
    object_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "scope", "key"], name="unique_idempotency_key")
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


class Webhook(models.Model):
    """An integration's endpoint that is sent signed events (Standard Webhooks)."""

    EVENTS = (
        ("run.finished", "A run succeeded, failed or was cancelled"),
        ("run.requeued", "A run went back to the queue for a fresh attempt (its worker was lost)"),
        ("finding.created", "A run produced a new finding"),
        (
            "finding.updated",
            "A later run saw a finding again (a sighting: its count, and whether severity rose)",
        ),
        ("finding.triaged", "A finding's status, assignee or comment changed"),
        ("watch.alert", "A watch's run raised an alert (new finding, severity rise, spike, gap)"),
    )

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks"
    )
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    # Sealed (portal.sealing): the plaintext whsec_… key is shown once, at creation.
    secret = models.CharField(max_length=255, help_text="The signing secret, sealed at rest")
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def signing_secret(self) -> str:
        """The whsec_… key deliveries are signed with (raises sealing.UnsealError)."""
        from portal.sealing import unseal

        return unseal(self.secret)


class WebhookDelivery(models.Model):
    """One message to one webhook, with every attempt's outcome: the delivery log."""

    PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
    STATUSES = ((PENDING, "Pending"), (SUCCEEDED, "Delivered"), (FAILED, "Gave up"))

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(max_length=64, unique=True)
    event = models.CharField(max_length=50)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=STATUSES, default=PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When the next attempt is due (pending, after a failure)."
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook_id} ({self.status})"
