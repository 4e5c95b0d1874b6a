"""The Athena engine: a run's analyses as SQL over the flow log's table in the account.

A run over S3 flow logs of an account with Athena settings can be analysed in Athena instead
of being downloaded: forced by the analyst (engine "athena"), or chosen when the window holds
more than ATHENA_AUTO_BYTES of flow-log objects (engine "auto"). The analyses are the same
definitions the local engine runs (analysis.athena); those that cannot run there with the
run's parameters (reference tables too large to inline) are listed as skipped with the
reason. Every query's id, bytes scanned and cost go into the run's `data_read` and an audit
event; cancelling the run stops the query in flight. Nothing is loaded on the worker: the
pipeline's analysis loop runs each analysis in Athena.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from analysis.athena.client import (
    AthenaClient,
    AthenaSettings,
    QueryCancelled,
    ScanBudget,
    athena_client,
)
from analysis.athena.ddl import AthenaTable
from analysis.athena.pushdown import AthenaAnalysis
from analysis.athena.render import local_only_reason
from analysis.formats import DEFAULT_FORMAT, FlowFormat
from analysis.sources.base import PARQUET, TEXT
from analysis.sources.s3layout import S3Layout
from investigations.choices import RunSource
from investigations.models import QueryRun
from investigations.runs.context import RunContext
from investigations.runs.engines.base import DataRead, Loaded
from investigations.runs.progress import Progress, RunCancelled
from portal import audit

logger = logging.getLogger(__name__)

LOCAL, ATHENA, AUTO = "local", "athena", "auto"
ENGINES = (AUTO, LOCAL, ATHENA)


@dataclass(frozen=True)
class EngineChoice:
    """The engine a run uses and why, as the run page and `data_read` show it."""

    engine: str
    reason: str
    requested: str = AUTO
    window_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "requested": self.requested,
            "reason": self.reason,
            "window_bytes": self.window_bytes,
        }


def athena_unavailable(account: Any, source_config: dict[str, Any]) -> str | None:
    """Why this account and flow log cannot be analysed in Athena, or None."""
    if account is None:
        return "Athena reads flow logs in S3; uploaded files are analysed locally"
    if not account.athena_enabled:
        return "the AWS account has no Athena settings"
    flow_log = source_config.get("flow_log") or {}
    if source_config.get("kind") != RunSource.S3 or not flow_log.get("s3_bucket"):
        return "Athena reads flow logs delivered to S3, and this run reads CloudWatch Logs"
    try:
        flow_format(flow_log)
    except ValueError as exc:
        return f"the flow log's format cannot be read ({exc})"
    return None


def check_engine(engine: str, *, account: Any, source_config: dict[str, Any] | None) -> str:
    """The engine a new run asks for, refused (ValueError) when it cannot be honoured."""
    if engine not in ENGINES:
        raise ValueError(f"The engine must be one of {', '.join(ENGINES)}, not {engine!r}.")
    if engine == ATHENA:
        reason = athena_unavailable(account, source_config or {})
        if reason is not None:
            raise ValueError(f"This run cannot use Athena: {reason}.")
    return engine


def flow_format(flow_log: dict[str, Any]) -> FlowFormat:
    log_format = str(flow_log.get("log_format") or "").strip()
    # As AWS reports it: a field added after this release is kept as text, never refused.
    return FlowFormat.parse(log_format, allow_unknown=True) if log_format else DEFAULT_FORMAT


def table_for(account: Any, flow_log: dict[str, Any]) -> AthenaTable:
    """The Athena table over the flow log's S3 prefix (created on first use, then reused)."""
    return AthenaTable.for_flow_log(
        database=account.athena_database,
        flow_log_id=str(flow_log.get("flow_log_id") or "flowlog"),
        bucket=flow_log["s3_bucket"],
        layout=S3Layout(
            flow_log.get("s3_prefix") or "",
            account.account_id,
            flow_log["region"],
            bool(flow_log.get("hive_compatible_partitions")),
        ),
        flow_format=flow_format(flow_log),
        file_format=PARQUET if flow_log.get("file_format") == "parquet" else TEXT,
        hourly=bool(flow_log.get("per_hour_partition")),
    )


def choose(ctx: RunContext) -> EngineChoice | None:
    """Athena or local for a claimed run; None when Athena is not a question (uploaded files,
    the analyst asked for the local engine, or the account has no Athena settings)."""
    run = ctx.run
    if not ctx.is_aws:
        return None
    requested = str(run.source_config.get("engine") or AUTO)
    if requested == LOCAL:
        return None
    reason = athena_unavailable(ctx.account, run.source_config)
    if reason is not None:
        if requested == ATHENA:
            raise ValueError(f"This run cannot use Athena: {reason}.")
        return None
    if requested == ATHENA:
        return EngineChoice(ATHENA, "the analyst chose Athena", requested)
    window = ctx.window
    if window is None or window.start is None:
        return EngineChoice(ATHENA, "the window has no start", requested)
    from analysis import aws
    from analysis.athena.sizing import window_bytes

    flow_log = ctx.flow_log
    role, aws_settings = ctx.role(f"run #{run.pk} (sizing the window)")
    s3 = aws.make_client(role.session, "s3", flow_log["region"], aws_settings)
    threshold = settings.ATHENA_AUTO_BYTES
    size = window_bytes(s3, table_for(ctx.account, flow_log), window, stop_above=threshold)
    if size > threshold:
        why = f"the window holds more than {threshold:,} bytes of flow logs"
        return EngineChoice(ATHENA, why, requested, size)
    why = f"the window holds {size:,} bytes, at most ATHENA_AUTO_BYTES ({threshold:,})"
    return EngineChoice(LOCAL, why, requested, size)


class AthenaEngine:
    name = ATHENA

    def __init__(self, choice: EngineChoice) -> None:
        self.choice = choice

    def load(self, ctx: RunContext, progress: Progress) -> Loaded:
        """Nothing is loaded: the flow log's table is prepared and the analyses run there. Every
        query is audited however the run ends, and recorded in what was read."""
        run, account, flow_log = ctx.run, ctx.account, ctx.flow_log
        progress(5, "Connecting to AWS", force=True)
        role, aws_settings = ctx.role(f"run #{run.pk} (Athena)")
        table = table_for(account, flow_log)
        client = AthenaClient(
            athena_client(role.session, flow_log["region"], aws_settings),
            AthenaSettings(
                database=account.athena_database,
                workgroup=account.athena_workgroup or "primary",
                output_location=account.athena_output_location,
                cost_per_tb_usd=settings.ATHENA_COST_PER_TB_USD,
            ),
            budget=ScanBudget(account.athena_scan_limit_bytes),
            cancel=run.cancel_was_requested,
        )
        remote = AthenaAnalysis(client, table, ctx.window)
        read = DataRead(
            source="athena",
            details={
                "account": account.account_id,
                "flow_log": flow_log.get("flow_log_id"),
                "instance": (run.source_config.get("instance") or {}).get("instance_id"),
                "role_session": role.session_name,
            },
        )

        def close(outcome: str) -> None:
            audit_queries(run, client, table, self.choice, outcome)
            read.engine = self.choice.to_dict()
            read.athena = athena_read(client, table)

        progress(10, "Preparing the Athena table", force=True)
        try:
            remote.prepare()
        except BaseException as exc:
            close("cancelled" if isinstance(exc, (QueryCancelled, RunCancelled)) else "failed")
            raise
        return Loaded(
            source=_AthenaSource(remote, sorted(table.columns)),
            stats=None,
            read=read,
            stage="Analysing in Athena",
            share=(15, 95),
            on_close=close,
            refuses=_local_only,
        )


class _AthenaSource:
    def __init__(self, remote: AthenaAnalysis, columns: list[str]) -> None:
        self.remote = remote
        self._columns = columns

    def columns(self) -> list[str]:
        return self._columns

    def run(self, name: str, params: Any) -> Any:
        return self.remote.run(name, params)


def _local_only(analyzer: Any, params: Any) -> str | None:
    reason = local_only_reason(analyzer, params)
    return None if reason is None else f"runs only in the local engine: {reason}"


def athena_read(client: AthenaClient, table: AthenaTable) -> dict[str, Any]:
    """What the run read through Athena: its table, every query, bytes scanned and cost."""
    return {
        "workgroup": client.settings.workgroup,
        "database": table.database,
        "table": table.name,
        "location": table.location,
        "queries": [record.to_dict() for record in client.records],
        "query_ids": client.query_ids,
        "bytes_scanned": client.bytes_scanned,
        "cost_usd": client.cost_usd,
        "cost_per_tb_usd": client.settings.cost_per_tb_usd,
        "scan_limit_bytes": client.budget.limit,
    }


def audit_queries(
    run: QueryRun, client: AthenaClient, table: AthenaTable, choice: EngineChoice, outcome: str
) -> None:
    """One audit event per Athena run, whatever its outcome: the queries it paid for."""
    try:
        with transaction.atomic():
            audit.record(
                actor=None,
                action="run.athena_queries",
                target=run,
                details={
                    "outcome": outcome,
                    "engine": choice.to_dict(),
                    "athena": athena_read(client, table),
                },
            )
    except Exception:  # the run's own outcome must still be recorded
        logger.exception("Could not audit the Athena queries of run %s", run.pk)
