"""Making and changing watches: each change is audited in the transaction that makes it.

Analysts who own or share the investigation change its watches; managers read them (403)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from investigations.choices import RunSource, RunStatus
from investigations.models import QueryRun
from investigations.services import RunRequestInvalid, check_writable
from investigations.watches.models import Watch
from portal import audit

MIN_INTERVAL_MINUTES = 1
MAX_INTERVAL_MINUTES = 7 * 24 * 60
MAX_K = 100.0
# The baselines (and the new-country and rare-AS signals, geo) read these; a watch always runs
# them beside the run's own analyses.
BASELINE_ANALYSES = ("traffic-summary", "external-summary", "geo")


def check_schedule(*, interval_minutes: int, k: float) -> None:
    if not MIN_INTERVAL_MINUTES <= interval_minutes <= MAX_INTERVAL_MINUTES:
        raise RunRequestInvalid(
            f"The interval must be {MIN_INTERVAL_MINUTES} to {MAX_INTERVAL_MINUTES} minutes."
        )
    if not 0 <= k <= MAX_K:
        raise RunRequestInvalid(f"k must be between 0 and {MAX_K:g}.")


def watched_analyses(analyses: list[str]) -> list[str]:
    if "all" in analyses:
        return ["all"]
    return list(dict.fromkeys([*analyses, *BASELINE_ANALYSES]))


def create_watch_from_run(
    *,
    user: Any,
    run: QueryRun,
    interval_minutes: int,
    k: float,
    client_ip: str | None = None,
    api_token_id: int | None = None,
) -> Watch:
    """A watch repeating a finished AWS-sourced run: same account, instance, source, flow log,
    analyses, parameters and reference tables; its first window ends where now's lag does."""
    if run.source not in (RunSource.S3, RunSource.CLOUDWATCH):
        raise RunRequestInvalid(
            "Only runs over an AWS source (CloudWatch Logs or S3) can be watched."
        )
    if run.status != RunStatus.SUCCEEDED:
        raise RunRequestInvalid("Only a run that succeeded can be watched.")
    from accounts.models import AwsAccount

    config = run.source_config or {}
    account = AwsAccount.objects.filter(pk=int(config.get("account") or 0)).first()
    if account is None:
        raise RunRequestInvalid("The run's AWS account is gone.")
    instance = config.get("instance") or {}
    parameters = dict(run.parameters or {})
    return create_watch(
        user=user,
        investigation=run.investigation,
        account=account,
        instance=instance.get("instance_id") or "",
        source=run.source,
        analyses=list(run.analyses),
        parameters=parameters,
        flow_log_id=(config.get("flow_log") or {}).get("flow_log_id") or "",
        interfaces=list(instance.get("interfaces") or []),
        engine=config.get("engine") or "auto",
        reference_tables=[v.table for v in run.reference_versions.select_related("table")],
        name=f"{instance.get('name') or instance.get('instance_id') or 'instance'} · "
        f"{run.get_source_display()}",
        interval_minutes=interval_minutes,
        k=k,
        source_run=run,
        client_ip=client_ip,
        api_token_id=api_token_id,
    )


def create_watch(
    *,
    user: Any,
    investigation: Any,
    account: Any,
    instance: str,
    source: str,
    analyses: list[str],
    interval_minutes: int,
    k: float = 3.0,
    parameters: dict[str, Any] | None = None,
    flow_log_id: str = "",
    interfaces: list[str] | None = None,
    engine: str = "auto",
    reference_tables: list[Any] | None = None,
    name: str = "",
    lag_seconds: int | None = None,
    source_run: QueryRun | None = None,
    client_ip: str | None = None,
    api_token_id: int | None = None,
) -> Watch:
    check_writable(user, investigation, action="add watches to")
    check_schedule(interval_minutes=interval_minutes, k=k)
    if source not in (RunSource.S3, RunSource.CLOUDWATCH):
        raise RunRequestInvalid("A watch reads cloudwatch or s3.")
    if not instance.strip():
        raise RunRequestInvalid("A watch needs an instance.")
    now = timezone.now()
    with transaction.atomic():
        watch = Watch.objects.create(
            investigation=investigation,
            name=(name or f"{instance} · {source}")[:200],
            source_run=source_run,
            account=account,
            instance=instance.strip(),
            source=source,
            flow_log_id=flow_log_id,
            interfaces=list(interfaces or []),
            engine=engine,
            analyses=watched_analyses(list(analyses)),
            parameters=dict(parameters or {}),
            created_by=user,
            interval_minutes=interval_minutes,
            k=k,
            lag_seconds=settings.WATCH_LAG_SECONDS if lag_seconds is None else lag_seconds,
            next_run_at=now,
        )
        watch.reference_tables.set(reference_tables or [])
        audit.record(
            actor=user,
            action="watch.created",
            target=watch,
            details={
                "investigation": investigation.pk,
                "account": account.pk,
                "instance": watch.instance,
                "source": source,
                "analyses": watch.analyses,
                "interval_minutes": interval_minutes,
                "k": k,
                "source_run": source_run.pk if source_run else None,
            },
            client_ip=client_ip,
            api_token_id=api_token_id,
        )
    return watch


def update_watch(
    *,
    user: Any,
    watch: Watch,
    interval_minutes: int | None = None,
    k: float | None = None,
    name: str | None = None,
    client_ip: str | None = None,
    api_token_id: int | None = None,
) -> Watch:
    """A new interval takes effect from the last run: the next one is due interval after it."""
    check_writable(user, watch.investigation, action="change the watches of")
    interval = watch.interval_minutes if interval_minutes is None else interval_minutes
    new_k = watch.k if k is None else k
    check_schedule(interval_minutes=interval, k=new_k)
    changes: dict[str, Any] = {}
    for field, value in (("interval_minutes", interval), ("k", new_k), ("name", name)):
        if value is not None and getattr(watch, field) != value:
            changes[field] = {"from": getattr(watch, field), "to": value}
            setattr(watch, field, value)
    if not changes:
        return watch
    with transaction.atomic():
        audit.lock_ordered_writes()  # before the watch's row, as every writer does
        fields = [*changes, "updated_at"]
        if "interval_minutes" in changes:
            delta = timedelta(minutes=interval - changes["interval_minutes"]["from"])
            watch.next_run_at = watch.next_run_at + delta
            fields.append("next_run_at")
        watch.save(update_fields=fields)
        audit.record(
            actor=user,
            action="watch.updated",
            target=watch,
            details=changes,
            client_ip=client_ip,
            api_token_id=api_token_id,
        )
    return watch


def pause_watch(
    *, user: Any, watch: Watch, client_ip: str | None = None, api_token_id: int | None = None
) -> Watch:
    return _set_paused(
        user=user, watch=watch, paused=True, client_ip=client_ip, api_token_id=api_token_id
    )


def resume_watch(
    *, user: Any, watch: Watch, client_ip: str | None = None, api_token_id: int | None = None
) -> Watch:
    """Due at once; its next window starts where the last one ended, so the paused stretch is
    analysed in that one run (nothing is skipped)."""
    return _set_paused(
        user=user, watch=watch, paused=False, client_ip=client_ip, api_token_id=api_token_id
    )


def _set_paused(
    *, user: Any, watch: Watch, paused: bool, client_ip: str | None, api_token_id: int | None
) -> Watch:
    check_writable(user, watch.investigation, action="change the watches of")
    if watch.paused == paused:
        raise RunRequestInvalid(f"The watch is already {'paused' if paused else 'active'}.")
    with transaction.atomic():
        audit.lock_ordered_writes()  # before the watch's row, as every writer does
        fields: dict[str, Any] = {"paused": paused, "updated_at": timezone.now()}
        if not paused:
            fields["next_run_at"] = timezone.now()
        if not Watch.objects.filter(pk=watch.pk, paused=not paused).update(**fields):
            raise RunRequestInvalid(f"The watch is already {'paused' if paused else 'active'}.")
        for name, value in fields.items():
            setattr(watch, name, value)
        audit.record(
            actor=user,
            action="watch.paused" if paused else "watch.resumed",
            target=watch,
            client_ip=client_ip,
            api_token_id=api_token_id,
        )
    return watch


def delete_watch(
    *, user: Any, watch: Watch, client_ip: str | None = None, api_token_id: int | None = None
) -> None:
    """The watch and its alerts go; the runs it started stay in the investigation."""
    check_writable(user, watch.investigation, action="change the watches of")
    with transaction.atomic():
        audit.record(
            actor=user,
            action="watch.deleted",
            target=watch,
            details={
                "investigation": watch.investigation_id,
                "name": watch.name,
                "runs": list(watch.watch_runs.values_list("run_id", flat=True)),
                "alerts": watch.alerts.count(),
            },
            client_ip=client_ip,
            api_token_id=api_token_id,
        )
        watch.delete()
