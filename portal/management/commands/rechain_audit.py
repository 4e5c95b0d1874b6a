"""Re-sign the whole audit chain under the current key (after a key rotation, before the old
key is dropped from the fallbacks)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from portal import audit
from portal.audit_chain import rechain, signing_key, write_checkpoint
from portal.audit_verify import verify_audit_log
from portal.models import AuditEvent

_UPDATE = "UPDATE {table} SET prev_hash = %s, hash = %s, key_id = %s WHERE id = %s"
_BATCH = 2000


def _in_order() -> Iterator[AuditEvent]:
    """Every event by id, a batch at a time, each batch read before any row is rewritten."""
    last = 0
    while batch := list(AuditEvent.objects.filter(id__gt=last).order_by("id")[:_BATCH]):
        yield from batch
        last = batch[-1].pk


class Command(BaseCommand):
    help = (
        "Re-sign every audit event under the current key (AUDIT_KEY, else SECRET_KEY). "
        "The log is verified first; a log that fails verification is not re-signed unless "
        "--force is given, which the new chain then records."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Re-sign even a log that fails verification (the problems "
            "are recorded in the audit.rechained event).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = verify_audit_log()
        if not report.intact and not options["force"]:
            raise CommandError(
                "The audit log fails verification; fix or explain it first "
                "(or use --force):\n" + "\n".join(report.problems)
            )
        key = signing_key()
        table = AuditEvent._meta.db_table
        with transaction.atomic():
            audit.lock_ordered_writes()
            events = _in_order()
            batch: list[tuple[str, str, str, int]] = []
            count = 0
            with connection.cursor() as cursor:
                for row in rechain(events, key):
                    batch.append(row)
                    count += 1
                    if len(batch) >= _BATCH:
                        cursor.executemany(_UPDATE.format(table=table), batch)
                        batch = []
                if batch:
                    cursor.executemany(_UPDATE.format(table=table), batch)
            audit.record(
                actor=None,
                action="audit.rechained",
                details={
                    "events": count,
                    "key_id": key.key_id,
                    "key_source": key.source,
                    "verified_before": report.intact,
                    "problems_before": report.problems,
                },
            )
        write_checkpoint(reset=f"re-signed under key {key.key_id}", force=True)
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-signed {count} audit events under key {key.key_id} ({key.source}); a new "
                "checkpoint starts verification from here."
            )
        )
