"""Every change to an investigation (and to its findings) goes through these functions, with
its audit event; starting and stopping runs is `investigations.runs.submit`.

Views, the API, tasks and management commands all call them; none takes a request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from investigations.choices import FindingStatus, InvestigationStatus
from investigations.models import (
    MAX_TAGS_PER_INVESTIGATION,
    Finding,
    Investigation,
    Note,
    Tag,
)
from portal import audit
from portal.roles import can_run_analyses
from portal.sequences import next_change_number

logger = logging.getLogger(__name__)


class RunRequestInvalid(ValueError):
    """The run request is well-formed but cannot be run (unknown analysis, bad parameter...)."""


def create_investigation(
    *,
    user: Any,
    title: str,
    description: str = "",
    members: Iterable[Any] = (),
    tags: Iterable[str] = (),
    assignee: Any = None,
    client_ip: str | None = None,
    api_token_id: int | None = None,
) -> Investigation:
    """Open an investigation owned by `user`, shared with `members`; `assignee`, if given, must
    be the owner or one of those members."""
    if not can_run_analyses(user):
        raise PermissionDenied("Only analysts can open investigations.")
    names = normalise_tags(tags)
    with transaction.atomic():
        investigation = Investigation.objects.create(
            title=title, description=description, owner=user
        )
        member_list = [m for m in members if m.pk != user.pk]
        if member_list:
            investigation.members.set(member_list)
        if assignee is not None:
            _check_assignable(investigation, assignee)
            investigation.assignee = assignee
            investigation.save(update_fields=["assignee"])
        if names:
            investigation.tags.set(_tags_named(names))
        audit.record(
            actor=user,
            action="investigation.created",
            target=investigation,
            details={
                "title": title,
                "members": [m.get_username() for m in member_list],
                "assignee": assignee.get_username() if assignee is not None else None,
                "tags": names,
            },
            client_ip=client_ip,
            api_token_id=api_token_id,
        )
    return investigation


def check_writable(
    user: Any, investigation: Investigation, *, action: str = "start runs in"
) -> None:
    if not Investigation.objects.writable_by(user).filter(pk=investigation.pk).exists():
        raise PermissionDenied(f"You cannot {action} this investigation.")


def add_note(
    *,
    user: Any,
    investigation: Investigation,
    text: str,
    client_ip: str | None = None,
    api_token_id: int | None = None,
) -> Note:
    check_writable(user, investigation, action="add notes to")
    text = text.strip()
    if not text:
        raise RunRequestInvalid("A note needs some text.")
    with transaction.atomic():
        audit.lock_ordered_writes()  # before the row's lock, as every writer does
        note = Note.objects.create(investigation=investigation, author=user, text=text)
        Investigation.objects.filter(pk=investigation.pk).update(updated_at=timezone.now())
        audit.record(
            actor=user,
            action="investigation.note_added",
            target=investigation,
            details={"note": note.pk, "length": len(text)},
            client_ip=client_ip,
            api_token_id=api_token_id,
        )
    return note


def set_investigation_status(
    *,
    user: Any,
    investigation: Investigation,
    status: str,
    client_ip: str | None = None,
    api_token_id: int | None = None,
) -> Investigation:
    check_writable(user, investigation, action="change")
    if status not in InvestigationStatus.values:
        raise RunRequestInvalid(
            f"Unknown status {status!r}; use one of {', '.join(InvestigationStatus.values)}."
        )
    with transaction.atomic():
        audit.lock_ordered_writes()  # before the row's lock, as every writer does
        previous = investigation.status
        investigation.status = status
        investigation.save(update_fields=["status", "updated_at"])
        audit.record(
            actor=user,
            action="investigation.status_changed",
            target=investigation,
            details={"from": previous, "to": status},
            client_ip=client_ip,
            api_token_id=api_token_id,
        )
    return investigation


def set_members(
    *,
    user: Any,
    investigation: Investigation,
    members: Iterable[Any],
    client_ip: str | None = None,
) -> Investigation:
    """Only the owner shares an investigation; members are analysts. Removing the assignee from
    the members unassigns the investigation (the assignee is always someone who can see it)."""
    if investigation.owner_id != user.pk or not can_run_analyses(user):
        raise PermissionDenied("Only the owner can change who shares this investigation.")
    chosen = [m for m in members if m.pk != user.pk]
    with transaction.atomic():
        locked = _lock(investigation)
        before = sorted(investigation.members.values_list("username", flat=True))
        investigation.members.set(chosen)
        after = sorted(m.get_username() for m in chosen)
        audit.record(
            actor=user,
            action="investigation.members_changed",
            target=investigation,
            details={"from": before, "to": after},
            client_ip=client_ip,
        )
        kept = {m.pk for m in chosen} | {locked.owner_id}
        if locked.assignee_id is not None and locked.assignee_id not in kept:
            previous = locked.assignee
            locked.assignee = None
            locked.save(update_fields=["assignee", "updated_at"])
            investigation.assignee = None
            audit.record(
                actor=user,
                action="investigation.assignee_changed",
                target=investigation,
                details={
                    "from": previous.get_username() if previous else None,
                    "to": None,
                    "reason": "no longer a member",
                },
                client_ip=client_ip,
            )
    return investigation


def _lock(investigation: Investigation) -> Investigation:
    """The investigation's row, locked until commit, read afresh. The audit chain's lock is
    taken first, as every writer takes it, so the two are always locked in the same order.
    `no_key`: runs, notes and findings may still be added to it meanwhile."""
    audit.lock_ordered_writes()
    return (
        Investigation.objects.select_for_update(no_key=True, of=("self",))
        .select_related("assignee")
        .get(pk=investigation.pk)
    )


def _check_assignable(investigation: Investigation, assignee: Any) -> None:
    if not investigation.assignable_users().filter(pk=assignee.pk).exists():
        raise RunRequestInvalid(
            f"{assignee.get_username()} cannot be assigned: only the owner or a member of this "
            "investigation can. Share it with them first."
        )


def assignee_named(investigation: Investigation | None, username: str | None) -> Any:
    """The user an API caller names as assignee (None or "" for nobody). An unknown name gets
    the same answer as someone who cannot be assigned, so names cannot be probed."""
    if not username:
        return None
    from django.contrib.auth import get_user_model

    people = (
        investigation.assignable_users()
        if investigation is not None
        else get_user_model().objects.filter(is_active=True)
    )
    user = people.filter(username=username).first()
    if user is None:
        raise RunRequestInvalid(
            f"{username} cannot be assigned: only the owner or a member of this investigation "
            "can. Share it with them first."
        )
    return user


def set_assignee(
    *,
    user: Any,
    investigation: Investigation,
    assignee: Any,
    client_ip: str | None = None,
    api_token_id: int | None = None,
) -> Investigation:
    """Assign the investigation to its owner or one of its members (None unassigns it).
    Anyone who can change the investigation may reassign it; nothing is written if the
    assignee stays the same."""
    check_writable(user, investigation, action="assign")
    with transaction.atomic():
        locked = _lock(investigation)
        if assignee is not None:
            _check_assignable(locked, assignee)
        new_pk = assignee.pk if assignee is not None else None
        if locked.assignee_id == new_pk:
            investigation.assignee = assignee
            return investigation
        previous = locked.assignee
        locked.assignee = assignee
        locked.save(update_fields=["assignee", "updated_at"])
        investigation.assignee = assignee
        investigation.updated_at = locked.updated_at
        audit.record(
            actor=user,
            action="investigation.assignee_changed",
            target=investigation,
            details={
                "from": previous.get_username() if previous is not None else None,
                "to": assignee.get_username() if assignee is not None else None,
            },
            client_ip=client_ip,
            api_token_id=api_token_id,
        )
    return investigation


def normalise_tags(names: Iterable[str]) -> list[str]:
    """Tag names in their stored form, without duplicates, in the order given; raises
    RunRequestInvalid for a name that cannot be a tag or for too many tags."""
    result: list[str] = []
    for raw in names:
        if not str(raw).strip():
            continue
        try:
            name = Tag.normalise(raw)
        except ValueError as exc:
            raise RunRequestInvalid(str(exc)) from exc
        if name not in result:
            result.append(name)
    if len(result) > MAX_TAGS_PER_INVESTIGATION:
        raise RunRequestInvalid(
            f"At most {MAX_TAGS_PER_INVESTIGATION} tags per investigation ({len(result)} given)."
        )
    return result


def _tags_named(names: Sequence[str]) -> list[Tag]:
    # get_or_create copes with a concurrent creation of the same name (unique constraint).
    return [Tag.objects.get_or_create(name=name)[0] for name in names]


def set_tags(
    *,
    user: Any,
    investigation: Investigation,
    names: Iterable[str],
    client_ip: str | None = None,
    api_token_id: int | None = None,
) -> Investigation:
    """Replace the investigation's tags with `names` (normalised; new names become new tags).
    Nothing is written if the set of tags stays the same."""
    check_writable(user, investigation, action="tag")
    wanted = normalise_tags(names)
    with transaction.atomic():
        locked = _lock(investigation)
        before = sorted(locked.tags.values_list("name", flat=True))
        if before == sorted(wanted):
            return investigation
        locked.tags.set(_tags_named(wanted))
        locked.save(update_fields=["updated_at"])
        investigation.updated_at = locked.updated_at
        after = sorted(wanted)
        audit.record(
            actor=user,
            action="investigation.tags_changed",
            target=investigation,
            details={
                "from": before,
                "to": after,
                "added": sorted(set(after) - set(before)),
                "removed": sorted(set(before) - set(after)),
            },
            client_ip=client_ip,
            api_token_id=api_token_id,
        )
    return investigation


UNCHANGED: Any = object()


def update_investigation(
    *,
    user: Any,
    investigation: Investigation,
    status: str = UNCHANGED,
    assignee: Any = UNCHANGED,
    tags: Iterable[str] = UNCHANGED,
    client_ip: str | None = None,
    api_token_id: int | None = None,
) -> Investigation:
    """Change status, assignee and tags together: all of them or, on any refusal, none."""
    check_writable(user, investigation, action="change")
    with transaction.atomic():
        if status is not UNCHANGED:
            set_investigation_status(
                user=user,
                investigation=investigation,
                status=status,
                client_ip=client_ip,
                api_token_id=api_token_id,
            )
        if assignee is not UNCHANGED:
            set_assignee(
                user=user,
                investigation=investigation,
                assignee=assignee,
                client_ip=client_ip,
                api_token_id=api_token_id,
            )
        if tags is not UNCHANGED:
            set_tags(
                user=user,
                investigation=investigation,
                names=tags,
                client_ip=client_ip,
                api_token_id=api_token_id,
            )
    return investigation


MAX_TRIAGE_COMMENT = 2000
MAX_BULK_TRIAGE = 500


def set_finding_status(
    *,
    user: Any,
    finding: Finding,
    status: str,
    client_ip: str | None = None,
    api_token_id: int | None = None,
) -> Finding:
    """Triage a finding (acknowledge, false positive, resolve); pollers see it as a change."""
    return triage_findings(
        user=user, findings=[finding], status=status, client_ip=client_ip, api_token_id=api_token_id
    )[0]


def triage_findings(
    *,
    user: Any,
    findings: Sequence[Finding],
    status: str | None = None,
    assignee: Any = UNCHANGED,
    comment: str = "",
    client_ip: str | None = None,
    api_token_id: int | None = None,
) -> list[Finding]:
    """Set the status and/or assignee of findings, with an optional comment, in one
    transaction: one audit event, one change number and one `finding.triaged` webhook event per
    finding that changed. Every finding must belong to an investigation the user may change,
    and the assignee must be its owner or a member (None unassigns). A finding the request
    leaves as it was (no new status, assignee or comment) is not written."""
    from portal.webhooks import emit

    if status is not None and status not in FindingStatus.values:
        raise RunRequestInvalid(
            f"Unknown status {status!r}; use one of {', '.join(FindingStatus.values)}."
        )
    comment = (comment or "").strip()
    if len(comment) > MAX_TRIAGE_COMMENT:
        raise RunRequestInvalid(f"A comment is at most {MAX_TRIAGE_COMMENT} characters.")
    if not findings:
        raise RunRequestInvalid("Select at least one finding.")
    if len(findings) > MAX_BULK_TRIAGE:
        raise RunRequestInvalid(f"Triage at most {MAX_BULK_TRIAGE} findings at once.")
    if status is None and assignee is UNCHANGED and not comment:
        raise RunRequestInvalid("Choose a status, an assignee or write a comment.")
    investigations = {finding.investigation_id: finding.investigation for finding in findings}
    for investigation in investigations.values():
        check_writable(user, investigation, action="triage findings in")
        if assignee is not UNCHANGED and assignee is not None:
            _check_assignable(investigation, assignee)
    changed: list[Finding] = []
    with transaction.atomic():
        audit.lock_ordered_writes()
        locked = (
            Finding.objects.select_for_update(of=("self",))
            .select_related("assignee")
            .in_bulk([finding.pk for finding in findings])
        )
        audiences = {pk: inv.audience() for pk, inv in investigations.items()}
        for finding in findings:
            row = locked[finding.pk]
            details: dict[str, Any] = {}
            fields = ["updated_at"]
            if status is not None and row.status != status:
                details.update({"from": row.status, "to": status})
                row.status = status
                fields.append("status")
            new_assignee_pk = (
                row.assignee_id
                if assignee is UNCHANGED
                else (assignee.pk if assignee is not None else None)
            )
            if new_assignee_pk != row.assignee_id:
                details["assignee_from"] = (
                    row.assignee.get_username() if row.assignee is not None else None
                )
                details["assignee_to"] = assignee.get_username() if assignee is not None else None
                row.assignee = assignee
                fields.append("assignee")
            if comment:
                details["comment"] = comment
                row.triage_comment = comment
                fields.append("triage_comment")
            if len(fields) == 1:
                continue
            row.save(update_fields=fields)
            audit.record(
                actor=user,
                action="finding.triaged",
                target=row,
                details=details,
                client_ip=client_ip,
                api_token_id=api_token_id,
            )
            emit(
                "finding.triaged",
                {
                    "finding": row.pk,
                    "run": row.run_id,
                    "investigation": row.investigation_id,
                    "type": row.type,
                    "severity": float(row.severity),
                    "title": row.title,
                    "status": row.status,
                    "assignee": row.assignee.get_username() if row.assignee is not None else None,
                    "by": user.get_username(),
                    "changes": details,
                },
                recipients=audiences[row.investigation_id],
            )
            changed.append(row)
        # Last: each change number holds the counter until commit, so pollers see commit order.
        for row in changed:
            row.change_number = next_change_number()
            Finding.objects.filter(pk=row.pk).update(change_number=row.change_number)
    return [locked[finding.pk] for finding in findings]
