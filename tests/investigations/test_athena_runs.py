"""Runs analysed in Athena: engine choice, results, query ids and cost in data_read and the audit
log, cancellation stopping the query. AWS is the session's moto server; moto runs no SQL, so
each query's answer is queued through its API (tests/analysis/athena/test_client.py)."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import pytest
from django.db import connection

from investigations.models import QueryRun
from investigations.runs.engines.athena import ATHENA, LOCAL
from investigations.runs.pipeline import execute
from investigations.runs.submit import cancel_run, submit_run
from investigations.services import RunRequestInvalid
from portal.models import AuditEvent
from tests.analysis.athena.test_client import moto_api, queue_result
from tests.conftest import client_for

SUMMARY_COLUMNS = [
    ("protocol", "integer"), ("action", "varchar"), ("flows", "bigint"), ("packets", "bigint"),
    ("bytes", "bigint"), ("total_groups", "bigint"), ("total_flows", "bigint"),
    ("total_packets", "bigint"), ("total_bytes", "bigint"),
]  # fmt: skip
ATTACKER, WEB_HEX = "00000000000000000000ffffcb007132", "00000000000000000000ffff0a00010a"
# The SSH and RDP brute-force detections' one query: per port, the single sources (kind 0)
# and the campaigns (kind 1) with their figures, one listed address a row.
BRUTE_COLUMNS = [
    ("port", "integer"), ("kind", "integer"), ("ip", "varchar"), ("peak", "bigint"),
    ("n", "bigint"), ("flows", "bigint"), ("accepted", "bigint"), ("rejected", "bigint"),
    ("bytes", "bigint"), ("first_seen", "timestamp"), ("last_seen", "timestamp"),
    ("touched", "integer"), ("listed", "varchar"), ("rn", "bigint"),
]  # fmt: skip
SUMMARY_ROWS = [
    ["6", "ACCEPT", "40", "400", "40000", "2", "50", "460", "41000"],
    ["6", "REJECT", "10", "60", "1000", "2", "50", "460", "41000"],
]


@pytest.fixture
def athena_account(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, settings: Any) -> Any:
    from accounts.demo import seed_demo_account

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings.WHOIS_ENABLED = False
    settings.RUN_HEARTBEAT_SECONDS = 3600
    settings.RUN_PART_SECONDS = 7 * 86400
    account = seed_demo_account(moto_endpoint, lines=2000)
    account.athena_enabled = True
    account.athena_database = "flowlog_portal"
    account.athena_output_location = "s3://athena-results-demo/portal/"
    account.athena_scan_limit_bytes = 50 * 10**9
    account.save()
    return account


def submit(analyst: Any, investigation: Any, account: Any, **options: Any) -> QueryRun:
    """A run over the web instance's S3 flow log (the last 24 hours)."""
    request: dict[str, Any] = {"source": "s3", "analyses": ["traffic-summary"], **options}
    # No task is sent: `run_now` runs it here, and a real worker left by another test of this
    # process (on a shared broker) must not take it first.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("investigations.runs.queue.execute_on_commit", lambda run_id: None)
        return submit_run(
            user=analyst, investigation=investigation, account=account, instance="web", **request
        )


def run_now(run: QueryRun) -> QueryRun:
    """What the worker does: claim the run and execute it, here in the test's process."""
    claimed = QueryRun.claim(run.pk, worker="test")
    assert claimed is not None
    execute(claimed)
    claimed.refresh_from_db()
    return claimed


def athena_client(endpoint: str) -> Any:
    return boto3.client(
        "athena", region_name="us-east-1", endpoint_url=endpoint,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip


@pytest.mark.django_db
def test_an_analyst_forced_athena_run_records_queries_bytes_and_cost(
    athena_account: Any, investigation: Any, analyst: Any, moto_endpoint: str
) -> None:
    run = submit(analyst, investigation, athena_account, engine=ATHENA,
                 analyses=["traffic-summary", "detections"])  # fmt: skip
    assert run.source_config["engine"] == ATHENA
    for _ in range(2):  # CREATE DATABASE, CREATE TABLE
        queue_result(moto_endpoint, [], [])
    queue_result(moto_endpoint, SUMMARY_COLUMNS, SUMMARY_ROWS)
    # detections: SSH brute force finds one source, involving the run's target (the web
    # instance), its one target listed; every other query is empty.
    queue_result(moto_endpoint, BRUTE_COLUMNS, [
        ["22", "0", ATTACKER, "30", "1", "30", "0", "30", "1800", "2024-05-01 10:00:00.000",
         "2024-05-01 10:05:00.000", "1", WEB_HEX, "1"],
    ])  # fmt: skip

    run = run_now(run)

    assert run.status == "succeeded", run.error
    rows = list(run.results.get(analysis="traffic-summary").rows.values_list("data", flat=True))
    assert [(r["protocol"], r["action"], r["flows"]) for r in rows] == [
        ("tcp", "ACCEPT", 40), ("tcp", "REJECT", 10),
    ]  # fmt: skip
    assert run.records["skipped_analyses"] == {}
    [finding] = run.findings.all()
    assert finding.type == "UnauthorizedAccess:EC2/SSHBruteForce"
    assert finding.evidence["peer"] == "203.0.113.50"
    assert finding.evidence["targets"] == ["10.0.1.10"]
    assert finding.evidence["flows"] == 30 and finding.severity == 4
    athena = run.data_read["athena"]
    assert run.data_read["engine"]["engine"] == ATHENA
    assert run.data_read["engine"]["reason"] == "the analyst chose Athena"
    assert run.data_read["role_session"] == "portal-alice"
    labels = [q["label"] for q in athena["queries"]]
    assert labels[:3] == ["ddl", "ddl", "traffic-summary"]
    assert set(labels[3:]) == {"detections"} and 5 <= len(labels[3:]) <= 22
    assert athena["bytes_scanned"] == 0 and athena["cost_usd"] == 0.0  # moto scans nothing
    assert athena["scan_limit_bytes"] == 50 * 10**9
    assert athena["database"] == "flowlog_portal" and athena["table"].startswith("flowlogs_fl_")

    sent = athena_client(moto_endpoint).get_query_execution(QueryExecutionId=athena["query_ids"][2])
    query = sent["QueryExecution"]
    assert query["Query"].startswith("WITH flows AS (")
    assert query["QueryExecutionContext"]["Database"] == "flowlog_portal"
    assert query["ResultConfiguration"]["OutputLocation"].startswith(
        "s3://athena-results-demo/portal/"
    )
    event = AuditEvent.objects.get(action="run.athena_queries")
    assert event.details["outcome"] == "succeeded"
    assert event.details["athena"]["query_ids"] == athena["query_ids"]
    assert AuditEvent.objects.filter(action="run.succeeded", target_id=str(run.pk)).exists()
    page = client_for(analyst).get(run.get_absolute_url()).content.decode()
    assert "Analysed with <strong>Amazon Athena</strong>: the analyst chose Athena" in page
    assert athena["query_ids"][2] in page and "Athena queries" in page


@pytest.mark.django_db
def test_the_run_form_and_the_api_take_the_engine(
    athena_account: Any, investigation: Any, analyst: Any
) -> None:
    from django.urls import reverse

    client = client_for(analyst)
    response = client.post(
        reverse("investigations:run_create", args=[investigation.pk]),
        {
            "source": "s3",
            "account": athena_account.pk,
            "instance": "web",
            "engine": "athena",
            "analyses": ["traffic-summary"],
            "top_n": 10,
            "rank_by": "flows",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    assert QueryRun.objects.get().source_config["engine"] == ATHENA
    rerun = client.get(
        reverse("investigations:run_create", args=[investigation.pk]),
        {"from": QueryRun.objects.get().pk},
    ).content.decode()
    assert '<option value="athena" selected>' in rerun
    api = client.post(
        "/api/v1/runs/",
        {
            "investigation": investigation.pk,
            "account": athena_account.pk,
            "instance": "web",
            "source": "s3",
            "engine": "local",
            "analyses": "traffic-summary",
        },
    )
    assert api.status_code == 202, api.content[:2000]
    assert QueryRun.objects.get(pk=api.json()["id"]).source_config["engine"] == "local"


@pytest.mark.django_db
def test_auto_chooses_athena_only_for_large_windows(
    athena_account: Any, investigation: Any, analyst: Any, moto_endpoint: str, settings: Any
) -> None:
    settings.ATHENA_AUTO_BYTES = 1
    for _ in range(2):
        queue_result(moto_endpoint, [], [])
    queue_result(moto_endpoint, SUMMARY_COLUMNS, SUMMARY_ROWS)
    large = run_now(submit(analyst, investigation, athena_account))
    assert large.status == "succeeded", large.error
    assert large.data_read["engine"]["engine"] == ATHENA
    assert large.data_read["engine"]["window_bytes"] > 1
    assert "more than 1 bytes" in large.data_read["engine"]["reason"]

    settings.ATHENA_AUTO_BYTES = 10**12
    small = run_now(submit(analyst, investigation, athena_account))
    assert small.status == "succeeded", small.error
    assert small.data_read["engine"]["engine"] == LOCAL
    assert small.data_read["source"] == "s3" and small.records["ok"] > 0
    assert "at most ATHENA_AUTO_BYTES" in small.data_read["engine"]["reason"]


@pytest.mark.django_db
def test_athena_is_refused_up_front_where_it_cannot_run(
    athena_account: Any, investigation: Any, analyst: Any
) -> None:
    with pytest.raises(RunRequestInvalid, match="reads flow logs delivered to S3"):
        submit(analyst, investigation, athena_account, engine=ATHENA, source="cloudwatch")
    athena_account.athena_enabled = False
    athena_account.save()
    with pytest.raises(RunRequestInvalid, match="no Athena settings"):
        submit(analyst, investigation, athena_account, engine=ATHENA)
    with pytest.raises(RunRequestInvalid, match="engine must be one of"):
        submit(analyst, investigation, athena_account, engine="spark")
    assert not QueryRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_cancelling_a_run_stops_its_athena_query(
    athena_account: Any, investigation: Any, analyst: Any, moto_endpoint: str
) -> None:
    run = submit(analyst, investigation, athena_account, engine=ATHENA)
    # Queries never finish on their own: only the cancel can end this run.
    moto_api(moto_endpoint, "state-manager/set-transition",
             {"model_name": "athena::execution",
              "transition": {"progression": "manual", "times": 10**6}})  # fmt: skip

    athena = athena_client(moto_endpoint)
    started_before = set(athena.list_query_executions()["QueryExecutionIds"])

    def cancel_once_a_query_runs() -> None:
        # The cancel must meet a running query: a fixed delay reached the run before its first
        # query on a loaded machine (and before its claim, earlier), so this waits for moto to
        # hold a query of this run first.
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                started = set(athena.list_query_executions()["QueryExecutionIds"])
                if started - started_before:
                    break
                time.sleep(0.05)
            cancel_run(user=analyst, run=QueryRun.objects.get(pk=run.pk))
        finally:
            connection.close()

    claimed = QueryRun.claim(run.pk, worker="test")
    assert claimed is not None
    canceller = threading.Thread(target=cancel_once_a_query_runs)
    canceller.start()
    try:
        execute(claimed)
        claimed.refresh_from_db()
        run = claimed
    finally:
        canceller.join()
        moto_api(moto_endpoint, "state-manager/unset-transition",
                 {"model_name": "athena::execution"})  # fmt: skip

    assert run.status == "cancelled"
    event = AuditEvent.objects.get(action="run.athena_queries")
    assert event.details["outcome"] == "cancelled"
    [query] = event.details["athena"]["queries"]
    assert (query["state"], query["error"]) == ("CANCELLED", "stopped: run cancelled")
    state = athena_client(moto_endpoint).get_query_execution(QueryExecutionId=query["query_id"])
    assert state["QueryExecution"]["Status"]["State"] == "CANCELLED"


def test_a_flow_log_format_with_a_field_newer_than_the_portal_keeps_it_as_text() -> None:
    from investigations.runs.engines.athena import flow_format

    fields = "version srcaddr dstaddr srcport dstport protocol packets bytes start end action"
    log_format = " ".join(f"${{{name}}}" for name in [*fields.split(), "log-status", "brand-new"])
    columns = [field.column for field in flow_format({"log_format": log_format})]
    assert columns[-2:] == ["log_status", "extra_brand_new"]
