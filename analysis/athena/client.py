"""Athena queries through boto3: start, poll with backoff, read every result page, stop on
cancel, retry throttling and retryable failures, keep a run's scan budget and cost."""

from __future__ import annotations

import hashlib
import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from analysis.athena.results import QueryResult
from analysis.aws import AwsError, AwsSettings, make_client

# Athena bills each query's scanned bytes, rounded up to a megabyte with a 10 MB minimum;
# DDL and failed queries are free. The price is a setting (it varies by region).
DEFAULT_COST_PER_TB_USD = 5.0
BYTES_PER_TB = 10**12
BILLING_UNIT = 10**6
BILLING_MINIMUM = 10 * BILLING_UNIT
THROTTLING_CODES = frozenset(
    {
        "TooManyRequestsException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
    }
)
SUCCEEDED, FAILED, CANCELLED = "SUCCEEDED", "FAILED", "CANCELLED"
_FINISHED = {SUCCEEDED, FAILED, CANCELLED}


def cost_usd(bytes_scanned: int, per_tb: float = DEFAULT_COST_PER_TB_USD) -> float:
    """What Athena charges for a query that scanned `bytes_scanned` bytes."""
    if bytes_scanned <= 0:
        return 0.0
    billed = max(BILLING_MINIMUM, math.ceil(bytes_scanned / BILLING_UNIT) * BILLING_UNIT)
    return round(billed / BYTES_PER_TB * per_tb, 6)


class AthenaQueryError(AwsError):
    """A query failed, or an Athena call did after every retry; `query_id` when one started."""

    def __init__(self, code: str, message: str, *, query_id: str = "", operation: str = "") -> None:
        super().__init__(code, message, operation=operation)
        self.query_id = query_id


class ScanLimitExceeded(AthenaQueryError):
    """The run's scan budget is spent: the query was not started, or was stopped."""


class QueryCancelled(AthenaQueryError):
    """The run was cancelled; its running query was stopped."""


@dataclass(frozen=True)
class AthenaSettings:
    """Where and how a run's queries go. `output_location` empty: the workgroup's own."""

    database: str
    workgroup: str = "primary"
    output_location: str = ""
    catalog: str = "AwsDataCatalog"
    cost_per_tb_usd: float = DEFAULT_COST_PER_TB_USD
    poll_first_seconds: float = 0.25
    poll_max_seconds: float = 5.0
    throttle_retries: int = 6
    throttle_first_seconds: float = 1.0
    throttle_max_seconds: float = 30.0
    query_attempts: int = 3  # a failure Athena calls retryable is tried again, up to this
    query_timeout_seconds: float = 3 * 3600
    page_size: int = 1000


@dataclass
class ScanBudget:
    """A run's limit on bytes scanned across all its queries (None: no limit)."""

    limit: int | None
    spent: int = 0

    def check_before_start(self) -> None:
        if self.limit is not None and self.spent >= self.limit:
            raise ScanLimitExceeded(
                "ScanLimitExceeded",
                f"the run has scanned {self.spent:,} bytes, its limit is {self.limit:,}: "
                "no further query is started",
            )

    def exceeded_with(self, running: int) -> bool:
        """True when a query that has scanned `running` bytes so far takes the run over."""
        return self.limit is not None and self.spent + running > self.limit

    def charge(self, scanned: int) -> None:
        self.spent += scanned


@dataclass
class QueryRecord:
    """One query the run sent: for its audit trail and `data_read`."""

    query_id: str
    state: str
    bytes_scanned: int = 0
    cost_usd: float = 0.0
    engine_ms: int = 0
    attempt: int = 1
    error: str = ""
    label: str = ""  # what the query was for: an analysis name, or "ddl"
    sql_sha256: str = field(default="", repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query_id": self.query_id,
            "label": self.label,
            "state": self.state,
            "bytes_scanned": self.bytes_scanned,
            "cost_usd": self.cost_usd,
            "engine_ms": self.engine_ms,
            "attempt": self.attempt,
            "error": self.error,
            "sql_sha256": self.sql_sha256,
        }


def athena_client(session: boto3.Session, region: str, aws: AwsSettings) -> Any:
    return make_client(session, "athena", region, aws)


class AthenaClient:
    """Runs queries one at a time for one run (a QueryExecutor for AthenaAnalysis).

    `cancel` is asked between polls; when it answers True the running query is stopped.
    `sleep` is how the client waits (tests pass one that records instead of sleeping).
    """

    def __init__(
        self,
        client: Any,
        settings: AthenaSettings,
        *,
        budget: ScanBudget | None = None,
        cancel: Callable[[], bool] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.settings = settings
        self.budget = budget or ScanBudget(None)
        self.cancel = cancel
        self.sleep = sleep
        self.clock = clock
        self.records: list[QueryRecord] = []
        self.running: str | None = None

    # -- totals ----------------------------------------------------------------------------

    @property
    def bytes_scanned(self) -> int:
        return sum(record.bytes_scanned for record in self.records)

    @property
    def cost_usd(self) -> float:
        return round(sum(record.cost_usd for record in self.records), 6)

    @property
    def query_ids(self) -> list[str]:
        return [record.query_id for record in self.records]

    # -- one query -------------------------------------------------------------------------

    def execute(self, sql: str, label: str = "") -> QueryResult:
        """Start `sql`, wait for it, and return all its rows. Raises AthenaQueryError."""
        attempts = max(self.settings.query_attempts, 1)
        for attempt in range(1, attempts + 1):
            self._check_cancelled("")
            self.budget.check_before_start()
            query_id = self._start(sql)
            self.running = query_id
            try:
                execution = self._wait(query_id, label, sql)
            finally:
                self.running = None
            status = execution.get("Status", {})
            state = str(status.get("State", ""))
            scanned = int(execution.get("Statistics", {}).get("DataScannedInBytes") or 0)
            record = self._record(query_id, state, scanned, execution, attempt, label, sql)
            if state == SUCCEEDED:
                columns, rows = self._results(query_id, execution)
                return QueryResult(
                    query_id,
                    columns,
                    rows,
                    bytes_scanned=scanned,
                    engine_ms=record.engine_ms,
                    state=state,
                    sql=sql,
                )
            error = status.get("AthenaError", {}) or {}
            reason = str(status.get("StateChangeReason") or error.get("ErrorMessage") or state)
            record.error = reason
            if state == FAILED and error.get("Retryable") and attempt < attempts:
                self.sleep(self._backoff(attempt, self.settings.throttle_first_seconds))
                continue
            raise AthenaQueryError(
                str(error.get("ErrorType") or state), reason, query_id=query_id,
                operation="athena:StartQueryExecution",
            )  # fmt: skip
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self, query_id: str) -> None:
        """Stop a query (a no-op for one that has finished)."""
        self._call("stop_query_execution", QueryExecutionId=query_id)

    def stop_running(self) -> None:
        """Stop the query in flight, if any (from another thread, when a run is cancelled)."""
        if self.running is not None:
            self.stop(self.running)

    # -- steps -----------------------------------------------------------------------------

    def _start(self, sql: str) -> str:
        request: dict[str, Any] = {
            "QueryString": sql,
            "QueryExecutionContext": {
                "Database": self.settings.database,
                "Catalog": self.settings.catalog,
            },
            "WorkGroup": self.settings.workgroup,
            # The same token on a retried start: Athena starts the query once.
            "ClientRequestToken": uuid.uuid4().hex + uuid.uuid4().hex,
        }
        if self.settings.output_location:
            request["ResultConfiguration"] = {"OutputLocation": self.settings.output_location}
        response = self._call("start_query_execution", **request)
        return str(response["QueryExecutionId"])

    def _wait(self, query_id: str, label: str, sql: str) -> dict[str, Any]:
        """Poll until the query finishes; stop it on cancel, budget or timeout."""
        deadline = self.clock() + self.settings.query_timeout_seconds
        delay = self.settings.poll_first_seconds
        while True:
            execution = self._call("get_query_execution", QueryExecutionId=query_id)[
                "QueryExecution"
            ]
            state = execution.get("Status", {}).get("State", "")
            if state in _FINISHED:
                return dict(execution)
            scanned = int(execution.get("Statistics", {}).get("DataScannedInBytes") or 0)
            if self.budget.exceeded_with(scanned):
                self._stop_with(query_id, execution, "scan limit", label, sql)
                raise ScanLimitExceeded(
                    "ScanLimitExceeded",
                    f"query {query_id} was stopped after {scanned:,} bytes: the run's scan "
                    f"limit is {self.budget.limit:,} bytes and {self.budget.spent:,} were "
                    "already scanned",
                    query_id=query_id,
                )
            self._check_cancelled(query_id, execution, label, sql)
            if self.clock() > deadline:
                self._stop_with(query_id, execution, "timeout", label, sql)
                raise AthenaQueryError(
                    "Timeout",
                    f"query {query_id} ran longer than {self.settings.query_timeout_seconds} s",
                    query_id=query_id,
                )
            self.sleep(delay)
            delay = min(delay * 2, self.settings.poll_max_seconds)

    def _results(
        self, query_id: str, execution: dict[str, Any]
    ) -> tuple[list[tuple[str, str]], list[list[str | None]]]:
        """Every page of the results; the header row Athena puts first for a SELECT is dropped."""
        columns: list[tuple[str, str]] = []
        rows: list[list[str | None]] = []
        token: str | None = None
        first = True
        while True:
            request: dict[str, Any] = {
                "QueryExecutionId": query_id,
                "MaxResults": self.settings.page_size,
            }
            if token:
                request["NextToken"] = token
            page = self._call("get_query_results", **request)
            result_set = page.get("ResultSet", {})
            if first:
                info = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                columns = [(str(c.get("Name", "")), str(c.get("Type", "varchar"))) for c in info]
            page_rows = [
                [item.get("VarCharValue") for item in row.get("Data", [])]
                for row in result_set.get("Rows", [])
            ]
            if (
                first
                and execution.get("StatementType") == "DML"
                and page_rows
                and page_rows[0] == [name for name, _ in columns]
            ):
                page_rows = page_rows[1:]
            rows.extend(page_rows)
            first = False
            token = page.get("NextToken")
            if not token:
                return columns, rows

    def _record(
        self,
        query_id: str,
        state: str,
        scanned: int,
        execution: dict[str, Any],
        attempt: int,
        label: str,
        sql: str,
    ) -> QueryRecord:
        self.budget.charge(scanned)
        record = QueryRecord(
            query_id=query_id,
            state=state,
            bytes_scanned=scanned,
            cost_usd=cost_usd(scanned, self.settings.cost_per_tb_usd),
            engine_ms=int(execution.get("Statistics", {}).get("EngineExecutionTimeInMillis") or 0),
            attempt=attempt,
            label=label,
            sql_sha256=hashlib.sha256(sql.encode()).hexdigest(),
        )
        self.records.append(record)
        return record

    def _stop_with(
        self, query_id: str, execution: dict[str, Any], why: str, label: str, sql: str
    ) -> None:
        self.stop(query_id)
        scanned = int(execution.get("Statistics", {}).get("DataScannedInBytes") or 0)
        record = self._record(query_id, CANCELLED, scanned, execution, 1, label, sql)
        record.error = f"stopped: {why}"

    def _check_cancelled(
        self,
        query_id: str,
        execution: dict[str, Any] | None = None,
        label: str = "",
        sql: str = "",
    ) -> None:
        if self.cancel is None or not self.cancel():
            return
        if query_id and execution is not None:
            self._stop_with(query_id, execution, "run cancelled", label, sql)
        stopped = f"; query {query_id} was stopped" if query_id else ""
        raise QueryCancelled("Cancelled", "the run was cancelled" + stopped, query_id=query_id)

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One Athena API call; throttling is retried with exponential backoff and jitter."""
        name = "athena:" + "".join(part.title() for part in operation.split("_"))
        for attempt in range(1, self.settings.throttle_retries + 2):
            try:
                response: dict[str, Any] = getattr(self.client, operation)(**kwargs)
                return response
            except (ClientError, BotoCoreError) as exc:
                error = AwsError.from_exception(exc, operation=name)
                if error.code not in THROTTLING_CODES or attempt > self.settings.throttle_retries:
                    raise AthenaQueryError(
                        error.code, error.message,
                        query_id=str(kwargs.get("QueryExecutionId", "")), operation=name,
                    ) from exc  # fmt: skip
                self.sleep(self._backoff(attempt, self.settings.throttle_first_seconds))
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int, first: float) -> float:
        """Exponential backoff with full jitter, capped."""
        ceiling = min(first * 2 ** (attempt - 1), self.settings.throttle_max_seconds)
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (jitter, not secrets)
