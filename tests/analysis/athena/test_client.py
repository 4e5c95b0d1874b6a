"""The Athena plumbing against a local moto server: start, poll, results, stop, retries, budget.

moto runs no SQL: results are queued through its API (`/moto-api/static/athena/query-results`)
and handed to the next query started. Its query states advance per GetQueryExecution call
when the state manager says so. Throttling comes from a small proxy in front of moto that
answers the first calls of an operation with TooManyRequestsException, as Athena does.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from analysis.analyzers import AnalysisParams
from analysis.athena.client import (
    AthenaClient,
    AthenaQueryError,
    AthenaSettings,
    QueryCancelled,
    ScanBudget,
    ScanLimitExceeded,
    athena_client,
    cost_usd,
)
from analysis.athena.ddl import AthenaTable
from analysis.athena.pushdown import AthenaAnalysis
from analysis.aws import AwsSettings
from analysis.formats import DEFAULT_FORMAT
from analysis.sources.s3layout import S3Layout

REGION = "us-east-1"
SETTINGS = AthenaSettings(
    database="flowlogs", workgroup="portal", output_location="s3://athena-results/portal/"
)


def moto_api(endpoint: str, path: str, payload: dict[str, Any]) -> None:
    request = urllib.request.Request(  # noqa: S310 (the local moto server)
        f"{endpoint}/moto-api/{path}",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310
        assert response.status in (200, 201)


def queue_result(endpoint: str, columns: list[tuple[str, str]], rows: list[list[Any]]) -> None:
    """Athena's answer to the next query: a header row first, as Athena gives for a SELECT."""

    def row(values: list[Any]) -> dict[str, Any]:
        return {"Data": [{} if value is None else {"VarCharValue": value} for value in values]}

    moto_api(
        endpoint,
        "static/athena/query-results",
        {
            "region": REGION,
            "results": [
                {
                    "rows": [row([name for name, _ in columns]), *(row(r) for r in rows)],
                    "column_info": [
                        {"Name": name, "Label": name, "Type": kind} for name, kind in columns
                    ],
                }
            ],
        },
    )


@pytest.fixture
def slow_queries(moto_endpoint: str) -> Iterator[None]:
    """A query moves to its next state (QUEUED, RUNNING, SUCCEEDED) every second poll."""
    transition = {
        "model_name": "athena::execution",
        "transition": {"progression": "manual", "times": 2},
    }
    moto_api(moto_endpoint, "state-manager/set-transition", transition)
    yield
    moto_api(moto_endpoint, "state-manager/unset-transition", {"model_name": "athena::execution"})


def session() -> boto3.Session:
    return boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )


def raw_client(endpoint: str, *, max_attempts: int = 2) -> Any:
    aws = AwsSettings(endpoint_url=endpoint, max_attempts=max_attempts)
    return athena_client(session(), REGION, aws)


@pytest.fixture
def athena(moto_endpoint: str) -> Any:
    client = raw_client(moto_endpoint)
    if not any(g["Name"] == "portal" for g in client.list_work_groups()["WorkGroups"]):
        client.create_work_group(Name="portal", Configuration={})
    return client


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_it_polls_with_backoff_and_reads_typed_rows(
    athena: Any, moto_endpoint: str, slow_queries: None
) -> None:
    queue_result(
        moto_endpoint,
        [("srcaddr", "varchar"), ("flows", "bigint"), ("first_seen", "timestamp")],
        [["00000000000000000000ffff0a00010a", "12", "2024-05-01 12:00:00.000"], [None, "3", None]],
    )
    sleeps = Sleeps()
    client = AthenaClient(athena, SETTINGS, sleep=sleeps)
    result = client.execute("SELECT srcaddr, flows, first_seen FROM flows", "traffic-summary")

    assert result.values() == [
        ("00000000000000000000ffff0a00010a", 12, datetime(2024, 5, 1, 12)),
        (None, 3, None),
    ]
    # moto moves the query on every second poll (QUEUED, RUNNING, RUNNING, SUCCEEDED):
    # three waits, each twice as long as the one before.
    assert sleeps == [0.25, 0.5, 1.0]
    execution = athena.get_query_execution(QueryExecutionId=result.query_id)["QueryExecution"]
    assert execution["Status"]["State"] == "SUCCEEDED"
    assert execution["Query"] == "SELECT srcaddr, flows, first_seen FROM flows"
    assert execution["QueryExecutionContext"]["Database"] == "flowlogs"
    assert execution["WorkGroup"] == "portal"
    assert execution["ResultConfiguration"]["OutputLocation"].startswith(
        "s3://athena-results/portal/"
    )
    [record] = client.records
    assert (record.query_id, record.state, record.label) == (
        result.query_id,
        "SUCCEEDED",
        "traffic-summary",
    )
    assert client.query_ids == [result.query_id]


def test_cancelling_stops_the_running_query(athena: Any, slow_queries: None) -> None:
    polls: list[int] = []

    def cancelled() -> bool:
        polls.append(1)
        return len(polls) > 2

    client = AthenaClient(athena, SETTINGS, cancel=cancelled, sleep=Sleeps())
    with pytest.raises(QueryCancelled) as caught:
        client.execute("SELECT 1")
    query_id = caught.value.query_id
    assert query_id
    state = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
    assert state["State"] == "CANCELLED"
    assert [(r.query_id, r.state, r.error) for r in client.records] == [
        (query_id, "CANCELLED", "stopped: run cancelled")
    ]


def test_stop_running_stops_the_query_in_flight_from_another_thread(
    athena: Any, slow_queries: None
) -> None:
    client: AthenaClient

    def stop_then_sleep(seconds: float) -> None:
        client.stop_running()  # what a cancel request from the web does

    client = AthenaClient(athena, SETTINGS, sleep=stop_then_sleep)
    with pytest.raises(AthenaQueryError) as caught:
        client.execute("SELECT 1")
    assert caught.value.code == "CANCELLED"
    state = athena.get_query_execution(QueryExecutionId=caught.value.query_id)
    assert state["QueryExecution"]["Status"]["State"] == "CANCELLED"


def test_a_spent_budget_starts_no_query(athena: Any) -> None:
    before = len(athena.list_query_executions(WorkGroup="portal")["QueryExecutionIds"])
    budget = ScanBudget(limit=50 * 10**6, spent=50 * 10**6)
    client = AthenaClient(athena, SETTINGS, budget=budget, sleep=Sleeps())
    with pytest.raises(ScanLimitExceeded, match="limit is 50,000,000"):
        client.execute("SELECT 1")
    after = len(athena.list_query_executions(WorkGroup="portal")["QueryExecutionIds"])
    assert after == before


def test_an_athena_error_names_its_code(moto_endpoint: str) -> None:
    client = AthenaClient(
        raw_client(moto_endpoint), AthenaSettings(database="flowlogs", workgroup="nope")
    )
    with pytest.raises(AthenaQueryError) as caught:
        client.execute("SELECT 1")
    assert "WorkGroup does not exist" in caught.value.message
    assert caught.value.operation == "athena:StartQueryExecution"


class ThrottlingProxy:
    """Forwards to moto, but answers the first `throttled` calls of `operation` with
    TooManyRequestsException (HTTP 400), as Athena does when too many queries run."""

    def __init__(self, upstream: str, operation: str, throttled: int) -> None:
        self.calls: list[str] = []
        target = urlsplit(upstream)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                name = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
                proxy.calls.append(name)
                if name == operation and proxy.calls.count(name) <= throttled:
                    reply = json.dumps(
                        {"__type": "TooManyRequestsException", "Message": "Rate exceeded"}
                    ).encode()
                    self.send_response(400)
                    self.send_header("Content-Type", "application/x-amz-json-1.1")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                    return
                upstream_conn = http.client.HTTPConnection(target.hostname, target.port)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream_conn.request("POST", self.path, body=body, headers=headers)
                answer = upstream_conn.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("operation", ["StartQueryExecution", "GetQueryResults"])
def test_throttled_calls_are_retried_with_backoff(
    athena: Any, moto_endpoint: str, operation: str
) -> None:
    proxy = ThrottlingProxy(moto_endpoint, operation, throttled=3)
    try:
        sleeps = Sleeps()
        # botocore's own retries off, so the client's backoff is what is tested
        client = AthenaClient(raw_client(proxy.url, max_attempts=1), SETTINGS, sleep=sleeps)
        queue_result(moto_endpoint, [("n", "bigint")], [["7"]])
        assert client.execute("SELECT 7 AS n").values() == [(7,)]
    finally:
        proxy.close()
    assert proxy.calls.count(operation) == 4
    backoffs = sleeps[:3] if operation == "StartQueryExecution" else sleeps[-3:]
    # full jitter in [half, all] of 1, 2, 4 seconds
    for seconds, ceiling in zip(backoffs, [1.0, 2.0, 4.0], strict=True):
        assert ceiling / 2 <= seconds <= ceiling


def test_throttling_that_does_not_stop_is_an_error(athena: Any, moto_endpoint: str) -> None:
    proxy = ThrottlingProxy(moto_endpoint, "StartQueryExecution", throttled=100)
    try:
        settings = AthenaSettings(database="flowlogs", workgroup="portal", throttle_retries=2)
        client = AthenaClient(raw_client(proxy.url, max_attempts=1), settings, sleep=Sleeps())
        with pytest.raises(AthenaQueryError) as caught:
            client.execute("SELECT 1")
    finally:
        proxy.close()
    assert caught.value.code == "TooManyRequestsException"
    assert proxy.calls.count("StartQueryExecution") == 3


def test_an_analysis_runs_through_athena_end_to_end(athena: Any, moto_endpoint: str) -> None:
    table = AthenaTable.for_flow_log(
        database="flowlogs",
        flow_log_id="fl-1234",
        bucket="flow-bucket",
        layout=S3Layout("", "123456789012", REGION, False),
        flow_format=DEFAULT_FORMAT,
    )
    client = AthenaClient(athena, SETTINGS, sleep=Sleeps())
    remote = AthenaAnalysis(client, table)
    remote.prepare()
    assert "flowlogs" in [
        db["Name"] for db in athena.list_databases(CatalogName="AwsDataCatalog")["DatabaseList"]
    ]
    queue_result(
        moto_endpoint,
        [
            ("srcaddr", "varchar"), ("action", "varchar"), ("flows", "bigint"),
            ("packets", "bigint"), ("bytes", "bigint"), ("first_seen", "timestamp"),
            ("last_seen", "timestamp"), ("total_groups", "bigint"), ("total_flows", "bigint"),
            ("total_packets", "bigint"), ("total_bytes", "bigint"),
        ],
        [
            ["00000000000000000000ffffcb007132", "REJECT", "2", "22", "1320",
             "2023-11-14 22:13:20.000", "2023-11-14 22:13:50.000", "2", "3", "122", "91320"],
            ["20010db8000000000000000000000050", "ACCEPT", "1", "100", "90000",
             "2023-11-14 22:16:40.000", "2023-11-14 22:16:50.000", "2", "3", "122", "91320"],
        ],
    )  # fmt: skip
    result = remote.run("ssh-inbound", AnalysisParams(target_ips=["10.0.1.10"]))
    assert [(row["srcaddr"], row["flows"], row["first_seen"]) for row in result.rows] == [
        ("203.0.113.50", 2, "2023-11-14T22:13:20+00:00"),
        ("2001:db8::50", 1, "2023-11-14T22:16:40+00:00"),
    ]
    assert (result.summary["flows"], result.summary["bytes"]) == (3, 91320)
    labels = [record.label for record in client.records]
    assert labels == ["ddl", "ddl", "ssh-inbound"]
    sent = athena.get_query_execution(QueryExecutionId=client.records[-1].query_id)
    assert sent["QueryExecution"]["Query"].startswith("WITH flows AS (")
    assert "00000000000000000000ffff0a00010a" in sent["QueryExecution"]["Query"]


def test_cost_is_billed_per_megabyte_with_a_minimum() -> None:
    assert cost_usd(0) == 0.0
    assert cost_usd(1) == cost_usd(10 * 10**6) == pytest.approx(5.0 * 10 / 10**6)
    assert cost_usd(10**12) == pytest.approx(5.0)
    assert cost_usd(10**12 + 1, per_tb=6.75) == pytest.approx(6.75 * (10**12 + 10**6) / 10**12)


def test_the_budget_counts_every_query_of_the_run() -> None:
    budget = ScanBudget(limit=100)
    budget.check_before_start()
    budget.charge(60)
    assert not budget.exceeded_with(40) and budget.exceeded_with(41)
    budget.charge(40)
    with pytest.raises(ScanLimitExceeded):
        budget.check_before_start()
    unlimited = ScanBudget(limit=None, spent=10**15)
    unlimited.check_before_start()
    assert not unlimited.exceeded_with(10**15)
