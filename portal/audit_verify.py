"""Checks the audit log against its keyed hash chain and against the checkpoints kept outside
the database; names every edit, insertion, deletion and truncation it finds."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from portal.audit_chain import Checkpoint, read_checkpoints, verifying_keys
from portal.models import AuditEvent

# Past this many, further problems are counted but not each described.
MAX_PROBLEMS = 20


@dataclass
class AuditReport:
    events: int = 0
    head_id: int = 0
    checkpoints: int = 0
    last_checkpoint: Checkpoint | None = None
    # Events newer than the last checkpoint: only the chain vouches for them.
    unanchored: int = 0
    problems: list[str] = field(default_factory=list)
    more_problems: int = 0

    @property
    def intact(self) -> bool:
        return not self.problems

    def add(self, problem: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.more_problems += 1


def _when(checkpoint: Checkpoint) -> str:
    return checkpoint.time.strftime("%Y-%m-%d %H:%M:%S UTC")


def verify_audit_log() -> AuditReport:
    """Walk the chain in order; compare it with every trusted checkpoint since the last reset."""
    report = AuditReport()
    keys = verifying_keys()
    checkpoints: list[Checkpoint] = []
    for line in read_checkpoints():
        if line.checkpoint is None:
            report.add(f"Checkpoint file line {line.number} {line.problem}.")
        elif line.checkpoint.reset:
            checkpoints = [line.checkpoint]
        else:
            checkpoints.append(line.checkpoint)
    report.checkpoints = len(checkpoints)
    report.last_checkpoint = checkpoints[-1] if checkpoints else None
    for earlier, later in pairwise(checkpoints):
        if later.events < earlier.events or later.head_id < earlier.head_id:
            report.add(
                f"The checkpoint of {_when(later)} counts fewer events ({later.events}, "
                f"up to #{later.head_id}) than the one of {_when(earlier)} "
                f"({earlier.events}, up to #{earlier.head_id}): events were deleted "
                "between them."
            )
    by_head: dict[int, list[Checkpoint]] = {}
    for checkpoint in checkpoints:
        by_head.setdefault(checkpoint.head_id, []).append(checkpoint)

    previous_hash, previous_id = "", 0
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        label = f"#{event.pk} ({event.action}, {event.created_at:%Y-%m-%d %H:%M:%S})"
        key = keys.get(event.key_id)
        if key is None:
            report.add(
                f"Audit event {label} is signed with key id {event.key_id or '(none)'}, "
                "which is not configured: it was forged, or its key was dropped (keep "
                "old keys in AUDIT_KEY_FALLBACKS or SECRET_KEY_FALLBACKS)."
            )
        elif event.compute_hash(key) != event.hash:
            report.add(f"Audit event {label} was edited: its content no longer matches its hash.")
        if event.prev_hash != previous_hash:
            where = f"after event #{previous_id}" if previous_id else "at the start"
            report.add(
                f"The chain breaks at event #{event.pk} ({event.action}): an event was "
                f"deleted or inserted {where}."
            )
        if event.actor_id is not None and event.actor_id != event.actor_user_id:
            report.add(
                f"Audit event {label} was edited: it links to user #{event.actor_id} "
                f"but was made by user #{event.actor_user_id}."
            )
        report.events += 1
        for checkpoint in by_head.pop(event.pk, []):
            if checkpoint.head_hash != event.hash:
                report.add(
                    f"Audit event {label} differs from the checkpoint of "
                    f"{_when(checkpoint)}: its hash changed since (the chain was "
                    "rewritten)."
                )
            if checkpoint.events != report.events:
                report.add(
                    f"The checkpoint of {_when(checkpoint)} counted {checkpoint.events} "
                    f"events up to #{event.pk}; the log now has {report.events}: events "
                    "before it were deleted or inserted."
                )
        previous_hash, previous_id = event.hash, event.pk
    report.head_id = previous_id

    by_head.pop(0, None)  # checkpoints of an empty log
    missing = [
        checkpoint
        for group in by_head.values()
        for checkpoint in group
        if checkpoint.head_id > report.head_id
    ]
    if missing:
        newest = max(missing, key=lambda c: c.head_id)
        report.add(
            f"The log was truncated: the checkpoint of {_when(newest)} recorded "
            f"{newest.events} events up to #{newest.head_id}; the log now ends at "
            f"#{report.head_id or '-'} with {report.events} events."
        )
    for head_id in sorted(head_id for head_id in by_head if head_id <= report.head_id):
        checkpoint = by_head[head_id][0]
        report.add(
            f"Audit event #{head_id}, the newest at the checkpoint of "
            f"{_when(checkpoint)}, was deleted."
        )
    if report.last_checkpoint is not None:
        report.unanchored = max(0, report.events - report.last_checkpoint.events)
    else:
        report.unanchored = report.events
    return report
