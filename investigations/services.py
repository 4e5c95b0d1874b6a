"""Every change to investigations and runs goes through these functions, with its audit event.

Views, the API, tasks and management commands all call them; none takes a request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from analysis.analyzers import AnalysisParams, all_analyzers, get_analyzer
from analysis.window import TimeWindow
from investigations.athena_runs import check_engine
from investigations.choices import FindingStatus, InvestigationStatus, RunSource, RunStatus
from investigations.models import (
    MAX_TAGS_PER_INVESTIGATION,
    Finding,
    Investigation,
    Note,
    QueryRun,
    Tag,
    UploadedLog,
)
from investigations.reference import ReferenceUploadRejected, latest_versions, reference_params
from investigations.uploads import display_name, store_upload
from portal import audit
from portal.idempotency import MAX_KEY_LENGTH, fingerprint, previous_object_id, remember
from portal.roles import can_run_analyses
from portal.sequences import next_change_number

logger = logging.getLogger(__name__)


class RunRequestInvalid(ValueError):
    """The run request is well-formed but cannot be run (unknown analysis, bad parameter...)."""


def known_analyses() -> list[str]:
    return [analyzer.name for analyzer in all_analyzers()]


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
            details={"title": title, "members": [m.get_username() for m in member_list],
                     "assignee": assignee.get_username() if assignee is not None else None,
                     "tags": names},
            client_ip=client_ip,
            api_token_id=api_token_id,
        )
    return investigation


def _check_writable(
    user: Any, investigation: Investigation, *, action: str = "start runs in"
) -> None:
    if not Investigation.objects.writable_by(user).filter(pk=investigation.pk).exists():
        raise PermissionDenied(f"You cannot {action} this investigation.")


def validate_run_request(analyses: Sequence[str], parameters: dict[str, Any]) -> tuple[
    list[str], dict[str, Any]
]:
    """Normalise analyses (expanding `all`) and parameters; RunRequestInvalid says what is wrong."""
    names = known_analyses()
    requested = list(dict.fromkeys(a.strip() for a in analyses if a.strip()))
    if not requested:
        raise RunRequestInvalid("Pick at least one analysis.")
    if "all" in requested:
        # Expanded when the data is loaded: "all" means every analysis its inputs allow.
        requested = ["all"]
    unknown = [a for a in requested if a not in names and a != "all"]
    if unknown:
        raise RunRequestInvalid(
            f"Unknown analysis: {', '.join(unknown)}. Known: {', '.join(names)}, all."
        )
    try:
        parsed = AnalysisParams.from_dict(parameters)
    except (TypeError, ValueError) as exc:
        raise RunRequestInvalid(str(exc)) from exc
    missing = [
        f"{name} {reason}" for name in requested if name != "all"
        for reason in [get_analyzer(name).missing_input(parsed)] if reason
    ]
    if missing:
        raise RunRequestInvalid("Cannot run: " + "; ".join(missing) + ".")
    return requested, parsed.to_dict()


def submit_run(
    *,
    user: Any,
    investigation: Investigation,
    analyses: Sequence[str],
    parameters: dict[str, Any] | None = None,
    files: Sequence[Any] = (),
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    client_ip: str | None = None,
    api_token_id: int | None = None,
    idempotency: tuple[str, str] | None = None,
    account: Any = None,
    instance: str = "",
    source: str = "auto",
    flow_log_id: str = "",
    interfaces: Sequence[str] = (),
    reference_tables: Sequence[Any] = (),
    engine: str = "auto",
) -> QueryRun:
    """Store the uploaded files (or plan the AWS source), then in one transaction write the
    queued run and its audit event; the Celery task is queued only once that commits.

    With `files`, the run reads them. With `account` and `instance`, it reads the flow log that
    covers the instance (`source`: auto, cloudwatch or s3) over the window (default: 24 h).
    `engine` (auto, local, athena) says where an S3 run is analysed (investigations.athena_runs)."""
    _check_writable(user, investigation)
    if window_start and window_end and window_start > window_end:
        raise RunRequestInvalid("The start of the time window is after its end.")
    aws_config: dict[str, Any] | None = None
    parameters = dict(parameters or {})
    if account is not None:
        if files:
            raise RunRequestInvalid("Either upload files or pick an AWS account, not both.")
        if source not in ("auto", RunSource.S3, RunSource.CLOUDWATCH):
            raise RunRequestInvalid("The source must be auto, cloudwatch or s3.")
        aws_config, parameters, window_start, window_end = plan_aws_source(
            user=user, account=account, instance_query=instance, source=source,
            parameters=parameters, window_start=window_start, window_end=window_end,
            flow_log_id=flow_log_id, interfaces=interfaces,
        )
    elif not files:
        raise RunRequestInvalid("Upload at least one flow-log file, or pick an AWS account.")
    if engine != "auto" or aws_config is not None:
        try:
            engine = check_engine(engine, account=account, source_config=aws_config)
        except ValueError as exc:
            raise RunRequestInvalid(str(exc)) from exc
        if aws_config is not None:
            aws_config["engine"] = engine
    try:
        versions = latest_versions(reference_tables)
        tables = reference_params(versions)
    except ReferenceUploadRejected as exc:
        raise RunRequestInvalid(str(exc)) from exc
    # Validated with the tables' contents; stored without them (the run links the versions).
    names, _checked = validate_run_request(analyses, {**parameters, **tables})
    params = AnalysisParams.from_dict(parameters).to_dict()  # already validated above

    stored: list[tuple[Any, Any]] = []
    try:
        for upload in files:
            stored.append((upload, store_upload(upload)))
        return _create_run(
            user=user, investigation=investigation, names=names, params=params, stored=stored,
            window_start=window_start, window_end=window_end, client_ip=client_ip,
            api_token_id=api_token_id, idempotency=idempotency, aws_config=aws_config,
            versions=versions,
        )
    except BaseException:
        # Nothing half-kept: files stored for a run that was never written are removed.
        for _upload, saved in stored:
            (Path(settings.UPLOAD_DIR) / saved.storage_key).unlink(missing_ok=True)
        raise


class _IdempotentReplay(Exception):
    """A concurrent request with the same Idempotency-Key created the run first."""


def _create_run(
    *, user: Any, investigation: Investigation, names: list[str], params: dict[str, Any],
    stored: list[tuple[Any, Any]], window_start: datetime | None, window_end: datetime | None,
    client_ip: str | None, api_token_id: int | None, idempotency: tuple[str, str] | None,
    aws_config: dict[str, Any] | None = None, versions: Sequence[Any] = (),
) -> QueryRun:
    from investigations.tasks import execute_run

    if aws_config is not None:
        source, source_config = aws_config["kind"], aws_config
    else:
        source, source_config = RunSource.FILE, {}

    with transaction.atomic():
        uploads = [
            UploadedLog.objects.create(
                investigation=investigation,
                uploaded_by=user,
                original_name=display_name(getattr(f, "name", "")),
                storage_key=s.storage_key,
                size=s.size,
                sha256=s.sha256,
            )
            for f, s in stored
        ]
        run = QueryRun.objects.create(
            investigation=investigation,
            requested_by=user,
            analyses=names,
            parameters=params,
            source=source,
            source_config={**source_config, "uploads": [u.pk for u in uploads]},
            window_start=window_start,
            window_end=window_end,
            stage="Queued",
        )
        run.uploads.set(uploads)
        run.reference_versions.set(versions)
        audit.record(
            actor=user,
            action="run.submitted",
            target=run,
            details={
                "investigation": investigation.pk,
                "analyses": names,
                "parameters": params,
                "source": source,
                "aws": {k: source_config[k] for k in ("account", "account_id", "instance")
                        if k in source_config} or None,
                "flow_log": (source_config.get("flow_log") or {}).get("flow_log_id"),
                "reference_tables": [
                    {"table": v.table.name, "version": v.number, "sha256": v.sha256}
                    for v in versions
                ],
                "files": [
                    {"name": u.original_name, "size": u.size, "sha256": u.sha256} for u in uploads
                ],
                "window": [
                    window_start.isoformat() if window_start else None,
                    window_end.isoformat() if window_end else None,
                ],
            },
            client_ip=client_ip,
            api_token_id=api_token_id,
        )
        Investigation.objects.filter(pk=investigation.pk).update(updated_at=run.created_at)
        if idempotency is not None:
            key, print_ = idempotency
            if not remember(user=user, scope="runs", key=key, print_=print_, object_id=run.pk):
                raise _IdempotentReplay
        transaction.on_commit(lambda: execute_run.delay(run.pk))
    return run


def submit_run_idempotent(*, user: Any, idempotency_key: str, **request: Any) -> tuple[
    QueryRun, bool
]:
    """`submit_run`, except that a retry with the same key and request returns the run made the
    first time (and True); the same key with a different request raises IdempotencyConflict."""
    if not idempotency_key or len(idempotency_key) > MAX_KEY_LENGTH:
        raise RunRequestInvalid(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.")
    files = request.get("files") or ()
    print_ = fingerprint({
        "investigation": request["investigation"].pk,
        "analyses": list(request.get("analyses") or []),
        "parameters": request.get("parameters") or {},
        "files": [(str(getattr(f, "name", "")), getattr(f, "size", None)) for f in files],
        "window": [request.get("window_start"), request.get("window_end")],
        "aws": [getattr(request.get("account"), "pk", None), request.get("instance"),
                request.get("source")],
    })
    existing = previous_object_id(user=user, scope="runs", key=idempotency_key, print_=print_)
    if existing is not None:
        return QueryRun.objects.get(pk=existing), True
    try:
        run = submit_run(user=user, idempotency=(idempotency_key, print_), **request)
    except _IdempotentReplay:
        existing = previous_object_id(user=user, scope="runs", key=idempotency_key,
                                      print_=print_)
        assert existing is not None
        return QueryRun.objects.get(pk=existing), True
    return run, False


def cancel_run(
    *, user: Any, run: QueryRun, client_ip: str | None = None, api_token_id: int | None = None
) -> QueryRun:
    """A queued run is cancelled at once; a running one stops at its next stage boundary."""
    _check_writable(user, run.investigation)
    with transaction.atomic():
        run = QueryRun.objects.select_for_update().get(pk=run.pk)
        if not run.is_active:
            raise RunRequestInvalid(f"Run #{run.pk} has already {run.status}.")
        if run.status == RunStatus.QUEUED:
            run.mark_cancelled()
        else:
            QueryRun.objects.filter(pk=run.pk).update(cancel_requested=True)
            run.cancel_requested = True
        audit.record(
            actor=user,
            action="run.cancel_requested",
            target=run,
            details={"status": run.status},
            client_ip=client_ip,
            api_token_id=api_token_id,
        )
    return run


@dataclass
class ReapReport:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    resent: list[int] = field(default_factory=list)


def reap_stale_runs(*, now: datetime | None = None) -> ReapReport:
    """Find runs whose worker died (heartbeat too old) and requeue them, or fail them with the
    reason once they have used up their attempts; re-send queued runs nobody claimed."""
    from investigations.tasks import execute_run

    now = now or timezone.now()
    report = ReapReport()
    cutoff = now - timedelta(seconds=settings.RUN_STALE_SECONDS)
    # A run handed to parts may wait in the download or analyse queue without a beat for longer.
    parts_cutoff = now - timedelta(seconds=settings.RUN_PARTS_STALE_SECONDS)
    stale = QueryRun.objects.filter(status=RunStatus.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    ).exclude(parts_total__gt=0, heartbeat_at__gte=parts_cutoff)
    for run in stale:
        last = run.heartbeat_at or run.started_at
        silent = f"its worker stopped responding (last heartbeat {last:%Y-%m-%d %H:%M:%S} UTC)"
        with transaction.atomic():
            if run.cancel_requested:
                if run.mark_cancelled():
                    report.cancelled.append(run.pk)
                    audit.record(actor=None, action="run.cancelled", target=run,
                                 details={"reason": silent})
            elif run.attempts >= settings.RUN_MAX_ATTEMPTS:
                error = f"The run was stopped: {silent}; gave up after {run.attempts} attempts."
                if run.mark_failed(error=error):
                    report.failed.append(run.pk)
                    audit.record(actor=None, action="run.failed", target=run,
                                 details={"error": error})
            elif run.requeue(reason=silent):
                report.requeued.append(run.pk)
                audit.record(actor=None, action="run.requeued", target=run,
                             details={"reason": silent, "attempts": run.attempts})
                pk = run.pk
                transaction.on_commit(lambda pk=pk: execute_run.delay(pk))  # type: ignore[misc]
    resend_before = now - timedelta(seconds=settings.RUN_RESEND_QUEUED_SECONDS)
    for pk in QueryRun.objects.filter(status=RunStatus.QUEUED, updated_at__lt=resend_before
                                      ).values_list("pk", flat=True):
        # Touch it so it is re-sent at most once per interval; the claim makes extras harmless.
        QueryRun.objects.filter(pk=pk, status=RunStatus.QUEUED).update(updated_at=now)
        execute_run.delay(pk)
        report.resent.append(pk)
    if report.requeued or report.failed or report.cancelled or report.resent:
        logger.warning("Reaper: %s", report)
    return report


def add_note(
    *, user: Any, investigation: Investigation, text: str, client_ip: str | None = None,
    api_token_id: int | None = None,
) -> Note:
    _check_writable(user, investigation, action="add notes to")
    text = text.strip()
    if not text:
        raise RunRequestInvalid("A note needs some text.")
    with transaction.atomic():
        audit.lock_ordered_writes()  # before the row's lock, as every writer does
        note = Note.objects.create(investigation=investigation, author=user, text=text)
        Investigation.objects.filter(pk=investigation.pk).update(updated_at=timezone.now())
        audit.record(actor=user, action="investigation.note_added", target=investigation,
                     details={"note": note.pk, "length": len(text)}, client_ip=client_ip,
                     api_token_id=api_token_id)
    return note


def set_investigation_status(
    *, user: Any, investigation: Investigation, status: str, client_ip: str | None = None,
    api_token_id: int | None = None,
) -> Investigation:
    _check_writable(user, investigation, action="change")
    if status not in InvestigationStatus.values:
        raise RunRequestInvalid(
            f"Unknown status {status!r}; use one of {', '.join(InvestigationStatus.values)}."
        )
    with transaction.atomic():
        audit.lock_ordered_writes()  # before the row's lock, as every writer does
        previous = investigation.status
        investigation.status = status
        investigation.save(update_fields=["status", "updated_at"])
        audit.record(actor=user, action="investigation.status_changed", target=investigation,
                     details={"from": previous, "to": status}, client_ip=client_ip,
                     api_token_id=api_token_id)
    return investigation


def set_members(
    *, user: Any, investigation: Investigation, members: Iterable[Any],
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
        audit.record(actor=user, action="investigation.members_changed", target=investigation,
                     details={"from": before, "to": after}, client_ip=client_ip)
        kept = {m.pk for m in chosen} | {locked.owner_id}
        if locked.assignee_id is not None and locked.assignee_id not in kept:
            previous = locked.assignee
            locked.assignee = None
            locked.save(update_fields=["assignee", "updated_at"])
            investigation.assignee = None
            audit.record(actor=user, action="investigation.assignee_changed",
                         target=investigation,
                         details={"from": previous.get_username() if previous else None,
                                  "to": None, "reason": "no longer a member"},
                         client_ip=client_ip)
    return investigation


def _lock(investigation: Investigation) -> Investigation:
    """The investigation's row, locked until commit, read afresh. The audit chain's lock is
    taken first, as every writer takes it, so the two are always locked in the same order.
    `no_key`: runs, notes and findings may still be added to it meanwhile."""
    audit.lock_ordered_writes()
    return Investigation.objects.select_for_update(no_key=True, of=("self",)).select_related(
        "assignee").get(pk=investigation.pk)


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

    people = (investigation.assignable_users() if investigation is not None
              else get_user_model().objects.filter(is_active=True))
    user = people.filter(username=username).first()
    if user is None:
        raise RunRequestInvalid(
            f"{username} cannot be assigned: only the owner or a member of this investigation "
            "can. Share it with them first."
        )
    return user


def set_assignee(
    *, user: Any, investigation: Investigation, assignee: Any, client_ip: str | None = None,
    api_token_id: int | None = None,
) -> Investigation:
    """Assign the investigation to its owner or one of its members (None unassigns it).
    Anyone who can change the investigation may reassign it; nothing is written if the
    assignee stays the same."""
    _check_writable(user, investigation, action="assign")
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
            actor=user, action="investigation.assignee_changed", target=investigation,
            details={"from": previous.get_username() if previous is not None else None,
                     "to": assignee.get_username() if assignee is not None else None},
            client_ip=client_ip, api_token_id=api_token_id,
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
    *, user: Any, investigation: Investigation, names: Iterable[str],
    client_ip: str | None = None, api_token_id: int | None = None,
) -> Investigation:
    """Replace the investigation's tags with `names` (normalised; new names become new tags).
    Nothing is written if the set of tags stays the same."""
    _check_writable(user, investigation, action="tag")
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
            actor=user, action="investigation.tags_changed", target=investigation,
            details={"from": before, "to": after,
                     "added": sorted(set(after) - set(before)),
                     "removed": sorted(set(before) - set(after))},
            client_ip=client_ip, api_token_id=api_token_id,
        )
    return investigation


UNCHANGED: Any = object()


def update_investigation(
    *, user: Any, investigation: Investigation, status: str = UNCHANGED,
    assignee: Any = UNCHANGED, tags: Iterable[str] = UNCHANGED,
    client_ip: str | None = None, api_token_id: int | None = None,
) -> Investigation:
    """Change status, assignee and tags together: all of them or, on any refusal, none."""
    _check_writable(user, investigation, action="change")
    with transaction.atomic():
        if status is not UNCHANGED:
            set_investigation_status(user=user, investigation=investigation, status=status,
                                     client_ip=client_ip, api_token_id=api_token_id)
        if assignee is not UNCHANGED:
            set_assignee(user=user, investigation=investigation, assignee=assignee,
                         client_ip=client_ip, api_token_id=api_token_id)
        if tags is not UNCHANGED:
            set_tags(user=user, investigation=investigation, names=tags, client_ip=client_ip,
                     api_token_id=api_token_id)
    return investigation


def set_finding_status(
    *, user: Any, finding: Finding, status: str, client_ip: str | None = None,
    api_token_id: int | None = None,
) -> Finding:
    """Triage a finding (acknowledge, false positive, resolve); pollers see it as a change."""
    _check_writable(user, finding.investigation, action="triage findings in")
    if status not in FindingStatus.values:
        raise RunRequestInvalid(
            f"Unknown status {status!r}; use one of {', '.join(FindingStatus.values)}."
        )
    with transaction.atomic():
        previous = finding.status
        finding.status = status
        finding.save(update_fields=["status", "updated_at"])
        audit.record(actor=user, action="finding.status_changed", target=finding,
                     details={"from": previous, "to": status}, client_ip=client_ip,
                     api_token_id=api_token_id)
        finding.change_number = next_change_number()  # last: holds the counter until commit
        Finding.objects.filter(pk=finding.pk).update(change_number=finding.change_number)
    return finding


@dataclass
class PruneReport:
    uploads_purged: int = 0
    bytes_freed: int = 0
    scratch_removed: int = 0


def prune_old_data(*, now: datetime | None = None) -> PruneReport:
    """Apply the retention policy: uploaded files whose runs all finished long ago, and scratch
    folders no running run owns. Audit events are never pruned."""
    import shutil

    now = now or timezone.now()
    report = PruneReport()
    days = settings.UPLOAD_RETENTION_DAYS
    if days > 0:
        cutoff = now - timedelta(days=days)
        stale = (
            UploadedLog.objects.filter(purged_at__isnull=True, created_at__lt=cutoff)
            .exclude(runs__status__in=[RunStatus.QUEUED, RunStatus.RUNNING])
            .exclude(runs__finished_at__gte=cutoff)
        )
        for upload in stale:
            path = Path(upload.path)
            if path.exists():
                report.bytes_freed += path.stat().st_size
                path.unlink()
            UploadedLog.objects.filter(pk=upload.pk).update(purged_at=now)
            report.uploads_purged += 1
    running = {f"run-{pk}" for pk in QueryRun.objects.filter(
        status=RunStatus.RUNNING).values_list("pk", flat=True)}
    for folder in Path(settings.WORK_DIR).glob("run-*"):
        if folder.name not in running:
            shutil.rmtree(folder, ignore_errors=True)
            report.scratch_removed += 1
    if report.uploads_purged or report.scratch_removed:
        audit.record(actor=None, action="data.pruned", details={
            "uploads_purged": report.uploads_purged, "bytes_freed": report.bytes_freed,
            "scratch_removed": report.scratch_removed, "retention_days": days})
    return report


DEFAULT_AWS_WINDOW = timedelta(hours=24)


def part_count(window: TimeWindow) -> int:
    """In how many parts a window of AWS data is fetched: one per RUN_PART_SECONDS of window,
    at most RUN_MAX_PARTS; 1 (no parts) for open-ended windows."""
    if window.start is None or window.end is None:
        return 1
    seconds = (window.end - window.start).total_seconds()
    wanted = -(-int(seconds) // max(1, settings.RUN_PART_SECONDS))
    return max(1, min(settings.RUN_MAX_PARTS, wanted))


def plan_aws_source(
    *, user: Any, account: Any, instance_query: str, source: str, parameters: dict[str, Any],
    window_start: datetime | None, window_end: datetime | None, flow_log_id: str = "",
    interfaces: Sequence[str] = (),
) -> tuple[dict[str, Any], dict[str, Any], datetime, datetime]:
    """Turn "this instance of this account, from CloudWatch/S3/auto" into the run's source
    configuration and parameters: the flow log that covers the instance (interface, then
    subnet, then VPC), its format, the instance's addresses and interfaces, the VPC's CIDRs.
    Parameters the analyst gave win over the discovered ones."""
    from accounts.services import AmbiguousInstance, InstanceNotFound, resolve_instance
    from analysis.sources import source_kind_for

    try:
        target = resolve_instance(user=user, account=account, query=instance_query)
    except (InstanceNotFound, AmbiguousInstance) as exc:
        raise RunRequestInvalid(str(exc)) from exc
    if flow_log_id:
        from accounts.models import FlowLogConfig

        chosen = FlowLogConfig.objects.filter(account=account, flow_log_id=flow_log_id).first()
        if chosen is None:
            raise RunRequestInvalid(f"The account has no flow log {flow_log_id!r}.")
        candidates = [chosen.to_dict()]
    else:
        candidates = [
            f for f in target.flow_logs if source == "auto" or source_kind_for(f) == source
        ]
    if not candidates:
        kind = {"auto": "", "s3": "S3 ", "cloudwatch": "CloudWatch Logs "}.get(source, "")
        raise RunRequestInvalid(
            f"No {kind}flow log covers {target.instance_id} ({target.name or 'no name'}); "
            "check the account's flow logs and refresh discovery."
        )
    flow_log = dict(candidates[0])
    flow_log.setdefault("account_id", account.account_id)
    end = window_end or timezone.now()
    start = window_start or end - DEFAULT_AWS_WINDOW
    params = dict(parameters)
    if not params.get("target_ips") and not params.get("target_cidrs"):
        params["target_ips"] = [*target.private_ips, *target.ipv6_addresses, *target.public_ips]
    chosen_interfaces = list(interfaces) or list(target.interfaces)
    params.setdefault("target_interfaces", chosen_interfaces)
    if not params.get("vpc_cidrs"):
        params["vpc_cidrs"] = list(target.vpc_cidrs)
    config = {
        "account": account.pk,
        "account_id": account.account_id,
        "instance": {"instance_id": target.instance_id, "name": target.name,
                     "region": target.region, "vpc_id": target.vpc_id,
                     "interfaces": chosen_interfaces},
        "flow_log": flow_log,
        "kind": source_kind_for(flow_log),
        # Long windows are fetched in parts by several workers (decided here, once).
        "parts": part_count(TimeWindow.build(start, end)),
    }
    return config, params, start, end
