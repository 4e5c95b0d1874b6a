"""Starting and stopping runs: validate the request, store its files or plan its AWS source,
write the queued run with its audit event, queue it once that commits; cancel it.

Views, the API, management commands and the demo all call these; none takes a request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from analysis.analyzers import AnalysisParams, all_analyzers, get_analyzer
from analysis.formats import FlowFormat
from analysis.window import TimeWindow
from investigations.choices import RunSource, RunStatus
from investigations.models import Investigation, QueryRun, UploadedLog
from investigations.reference import ReferenceUploadRejected, latest_versions, reference_params
from investigations.runs import lifecycle, queue
from investigations.runs.engines.athena import check_engine
from investigations.services import RunRequestInvalid, check_writable
from investigations.uploads import (
    ReusedFile,
    check_upload_quota,
    display_name,
    relink_upload,
    store_upload,
)
from portal import audit
from portal.idempotency import MAX_KEY_LENGTH, fingerprint, previous_object_id, remember


def known_analyses() -> list[str]:
    return [analyzer.name for analyzer in all_analyzers()]


def validate(
    analyses: Sequence[str], parameters: dict[str, Any]
) -> tuple[list[str], dict[str, Any]]:
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
        f"{name} {reason}"
        for name in requested
        if name != "all"
        for reason in [get_analyzer(name).missing_input(parsed)]
        if reason
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
    log_format: str = "",
    reuse_uploads: Sequence[Any] = (),
) -> QueryRun:
    """Store the uploaded files (or plan the AWS source), then in one transaction write the
    queued run and its audit event; the Celery task is queued only once that commits.

    With `files`, the run reads them. With `account` and `instance`, it reads the flow log that
    covers the instance (`source`: auto, cloudwatch or s3) over the window (default: 24 h).
    `engine` (auto, local, athena) says where an S3 run is analysed (runs.engines.athena)."""
    check_writable(user, investigation)
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
            user=user,
            account=account,
            instance_query=instance,
            source=source,
            parameters=parameters,
            window_start=window_start,
            window_end=window_end,
            flow_log_id=flow_log_id,
            interfaces=interfaces,
        )
    elif not files and not reuse_uploads:
        raise RunRequestInvalid("Upload at least one flow-log file, or pick an AWS account.")
    if log_format.strip():
        if account is not None:
            raise RunRequestInvalid(
                "A log format is for uploaded files; an AWS flow log's own format is used."
            )
        try:
            log_format = FlowFormat.from_text(log_format).log_format
        except ValueError as exc:
            raise RunRequestInvalid(f"Log format: {exc}.") from exc
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
    names, _checked = validate(analyses, {**parameters, **tables})
    params = AnalysisParams.from_dict(parameters).to_dict()  # already validated above

    # "Re-run with changes" without new files: the earlier run's files, read again.
    reused = [] if files or account is not None else list(reuse_uploads)
    check_upload_quota(user, [*files, *(ReusedFile(u.original_name, u.size) for u in reused)])
    stored: list[tuple[Any, Any]] = []
    try:
        for upload in files:
            stored.append((upload, store_upload(upload)))
        for previous in reused:
            again = ReusedFile(previous.original_name, previous.size)
            stored.append((again, relink_upload(previous)))
        return _create_run(
            user=user,
            investigation=investigation,
            names=names,
            params=params,
            stored=stored,
            window_start=window_start,
            window_end=window_end,
            client_ip=client_ip,
            api_token_id=api_token_id,
            idempotency=idempotency,
            aws_config=aws_config,
            versions=versions,
            log_format=log_format.strip(),
        )
    except BaseException:
        # Nothing half-kept: files stored for a run that was never written are removed. A file
        # that a committed run refers to is never removed, whatever failed after the commit.
        try:
            kept = set(
                UploadedLog.objects.filter(
                    storage_key__in=[saved.storage_key for _upload, saved in stored]
                ).values_list("storage_key", flat=True)
            )
        except DatabaseError:  # the transaction failed: nothing of it was committed
            kept = set()
        for _upload, saved in stored:
            if saved.storage_key not in kept:
                (Path(settings.UPLOAD_DIR) / saved.storage_key).unlink(missing_ok=True)
        raise


class _IdempotentReplay(Exception):
    """A concurrent request with the same Idempotency-Key created the run first."""


def _create_run(
    *,
    user: Any,
    investigation: Investigation,
    names: list[str],
    params: dict[str, Any],
    stored: list[tuple[Any, Any]],
    window_start: datetime | None,
    window_end: datetime | None,
    client_ip: str | None,
    api_token_id: int | None,
    idempotency: tuple[str, str] | None,
    aws_config: dict[str, Any] | None = None,
    versions: Sequence[Any] = (),
    log_format: str = "",
) -> QueryRun:
    if aws_config is not None:
        source, source_config = aws_config["kind"], aws_config
    else:
        source, source_config = RunSource.FILE, ({"log_format": log_format} if log_format else {})

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
                "aws": {
                    k: source_config[k]
                    for k in ("account", "account_id", "instance")
                    if k in source_config
                }
                or None,
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
        queue.execute_on_commit(run.pk)
    return run


def _content_sha256(upload: Any) -> str:
    """SHA-256 of an upload's content, leaving it readable from the start for storing."""
    digest = hashlib.sha256()
    if hasattr(upload, "chunks"):
        for chunk in upload.chunks():  # Django's chunks() starts from the beginning
            digest.update(chunk)
    else:
        for chunk in iter(lambda: upload.read(1 << 20), b""):
            digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def submit_run_idempotent(
    *, user: Any, idempotency_key: str, **request: Any
) -> tuple[QueryRun, bool]:
    """`submit_run`, except that a retry with the same key and request returns the run made the
    first time (and True); the same key with a different request raises IdempotencyConflict."""
    if not idempotency_key or len(idempotency_key) > MAX_KEY_LENGTH:
        raise RunRequestInvalid(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.")
    files = request.get("files") or ()
    print_ = fingerprint(
        {
            "investigation": request["investigation"].pk,
            "analyses": list(request.get("analyses") or []),
            "parameters": request.get("parameters") or {},
            "files": [
                (str(getattr(f, "name", "")), getattr(f, "size", None), _content_sha256(f))
                for f in files
            ],
            "window": [request.get("window_start"), request.get("window_end")],
            "aws": [
                getattr(request.get("account"), "pk", None),
                request.get("instance"),
                request.get("source"),
            ],
            "log_format": (request.get("log_format") or "").strip(),
            "reused": [u.pk for u in request.get("reuse_uploads") or ()],
        }
    )
    existing = previous_object_id(user=user, scope="runs", key=idempotency_key, print_=print_)
    if existing is not None:
        return QueryRun.objects.get(pk=existing), True
    try:
        run = submit_run(user=user, idempotency=(idempotency_key, print_), **request)
    except _IdempotentReplay:
        existing = previous_object_id(user=user, scope="runs", key=idempotency_key, print_=print_)
        assert existing is not None
        return QueryRun.objects.get(pk=existing), True
    return run, False


def cancel_run(
    *, user: Any, run: QueryRun, client_ip: str | None = None, api_token_id: int | None = None
) -> QueryRun:
    """A queued run is cancelled at once; a running one stops at its next stage boundary."""
    check_writable(user, run.investigation)
    with transaction.atomic():
        audit.lock_ordered_writes()  # before the row's lock, as every writer does
        run = QueryRun.objects.select_for_update().get(pk=run.pk)
        if not run.is_active:
            raise RunRequestInvalid(f"Run #{run.pk} has already {run.status}.")
        queued = run.status == RunStatus.QUEUED
        audit.record(
            actor=user,
            action="run.cancel_requested",
            target=run,
            details={"status": RunStatus.CANCELLED if queued else run.status},
            client_ip=client_ip,
            api_token_id=api_token_id,
        )
        if queued:
            lifecycle.cancel(run, actor=user, client_ip=client_ip, api_token_id=api_token_id)
        else:
            QueryRun.objects.filter(pk=run.pk).update(cancel_requested=True)
            run.cancel_requested = True
    return run


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
    *,
    user: Any,
    account: Any,
    instance_query: str,
    source: str,
    parameters: dict[str, Any],
    window_start: datetime | None,
    window_end: datetime | None,
    flow_log_id: str = "",
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
        "instance": {
            "instance_id": target.instance_id,
            "name": target.name,
            "region": target.region,
            "vpc_id": target.vpc_id,
            "interfaces": chosen_interfaces,
        },
        "flow_log": flow_log,
        "kind": source_kind_for(flow_log),
        # Long windows are fetched in parts by several workers (decided here, once).
        "parts": part_count(TimeWindow.build(start, end)),
    }
    return config, params, start, end
