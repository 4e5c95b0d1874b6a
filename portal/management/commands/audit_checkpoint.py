"""Append a signed checkpoint of the audit chain to the checkpoint file and the log now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from portal import audit
from portal.audit_chain import checkpoint_file, write_checkpoint


class Command(BaseCommand):
    help = (
        "Write a signed checkpoint of the audit chain (event count, newest hash, time) to "
        "the checkpoint file and the log. Celery beat does this regularly."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset",
            metavar="REASON",
            default="",
            help="Start verification again from here, e.g. after restoring the database from "
            "a backup (older checkpoints then describe events the backup lacks). The "
            "reason is recorded in the audit log and the checkpoint.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        reason: str = options["reset"].strip()
        if reason:
            audit.record(actor=None, action="audit.checkpoints_reset", details={"reason": reason})
        checkpoint = write_checkpoint(reset=reason, force=True)
        assert checkpoint is not None
        self.stdout.write(
            self.style.SUCCESS(
                f"Checkpoint written to {checkpoint_file()}: {checkpoint.events} events, newest "
                f"#{checkpoint.head_id}."
            )
        )
