"""Enumerations shared by investigation models, forms and the API."""

from django.db import models


class InvestigationStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
FINISHED_RUN_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)

# The only legal moves of a run's status; anything else is refused by the model.
RUN_TRANSITIONS: dict[str, set[str]] = {
    RunStatus.QUEUED: {RunStatus.RUNNING, RunStatus.FAILED, RunStatus.CANCELLED},
    # running → queued only when the reaper finds its worker dead and retries it.
    RunStatus.RUNNING: {
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.CANCELLED,
        RunStatus.QUEUED,
    },
    RunStatus.SUCCEEDED: set(),
    RunStatus.FAILED: set(),
    RunStatus.CANCELLED: set(),
}


class RunSource(models.TextChoices):
    FILE = "file", "Uploaded file"
    S3 = "s3", "S3 bucket"
    CLOUDWATCH = "cloudwatch", "CloudWatch Logs"


class FindingStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    FALSE_POSITIVE = "false_positive", "False positive"
    RESOLVED = "resolved", "Resolved"


def severity_label(severity: float) -> str:
    """GuardDuty's bands: 1 to 3.9 low, 4 to 6.9 medium, 7 to 8.9 high, 9+ critical."""
    if severity >= 9:
        return "critical"
    if severity >= 7:
        return "high"
    if severity >= 4:
        return "medium"
    return "low"


class ReferenceKind(models.TextChoices):
    LOOKUP = "lookup", "Lookup table (port/protocol → tag)"
    CIDR = "cidr", "CIDR table (ranges → labels)"
    KNOWN_HOSTS = "known_hosts", "Known hosts (IP → alias)"
    AS_DATABASE = "as_database", "AS database (ranges → AS number, organisation, country)"
