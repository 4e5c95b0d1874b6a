"""Check the audit log's hash chain; report the first edited, inserted or deleted event."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from portal.models import AuditEvent


class Command(BaseCommand):
    help = "Verify the audit log's hash chain. Exits 1 at the first break, naming the event."

    def handle(self, *args: Any, **options: Any) -> None:
        previous_hash = ""
        previous_id: int | None = None
        count = 0
        for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
            if event.compute_hash() != event.hash:
                when = event.created_at.strftime("%Y-%m-%d %H:%M:%S")
                raise CommandError(
                    f"Audit event #{event.pk} ({event.action}, {when}) was edited: its content "
                    "no longer matches its hash."
                )
            if event.prev_hash != previous_hash:
                where = f"after event #{previous_id}" if previous_id else "at the start"
                raise CommandError(
                    f"The chain breaks at event #{event.pk} ({event.action}): an event was "
                    f"deleted or inserted {where}."
                )
            previous_hash, previous_id = event.hash, event.pk
            count += 1
        self.stdout.write(self.style.SUCCESS(f"Audit log intact: {count} events verified."))
