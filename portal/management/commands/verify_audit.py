"""Check the audit log against its keyed hash chain and the checkpoints kept outside the
database; report every edited, inserted or deleted event and any truncation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from portal.audit_chain import checkpoint_file
from portal.audit_verify import verify_audit_log


class Command(BaseCommand):
    help = (
        "Verify the audit log's keyed hash chain and its checkpoints. Exits 1 naming each "
        "edited, inserted or deleted event and any truncation."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = verify_audit_log()
        if not report.intact:
            lines = list(report.problems)
            if report.more_problems:
                lines.append(f"... and {report.more_problems} more.")
            raise CommandError("The audit log was tampered with:\n" + "\n".join(lines))
        self.stdout.write(self.style.SUCCESS(f"Audit log intact: {report.events} events verified."))
        last = report.last_checkpoint
        if last is None:
            self.stdout.write(
                f"No checkpoint yet in {checkpoint_file()}: deleting the newest events would "
                "not be noticed (Celery beat writes checkpoints; `manage.py audit_checkpoint` "
                "writes one now)."
            )
        else:
            self.stdout.write(
                f"{report.checkpoints} checkpoint(s) agree; the last, of "
                f"{last.time:%Y-%m-%d %H:%M:%S} UTC, covers {last.events} events; "
                f"{report.unanchored} newer event(s) rely on the chain alone."
            )
            overdue = timedelta(seconds=3 * settings.AUDIT_CHECKPOINT_SECONDS)
            if report.unanchored and timezone.now() - last.time > overdue:
                self.stdout.write(
                    self.style.WARNING("The last checkpoint is overdue: is Celery beat running?")
                )
