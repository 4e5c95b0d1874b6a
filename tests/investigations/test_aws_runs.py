"""Runs over AWS data: pick an account and an instance, the worker assumes the role as the
analyst and reads the covering flow log from CloudWatch Logs or S3 (a local moto server)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from investigations.models import QueryRun
from investigations.runs.submit import submit_run
from investigations.services import RunRequestInvalid
from portal.models import AuditEvent
from tests.conftest import client_for, wait_for_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def demo_account(moto_endpoint: str) -> Any:
    from accounts.demo import seed_demo_account

    return seed_demo_account(moto_endpoint, lines=4000)


def _log_group_events(logs: Any, group: str) -> dict[str, list[dict[str, Any]]]:
    saved: dict[str, list[dict[str, Any]]] = {}
    for page in logs.get_paginator("describe_log_streams").paginate(logGroupName=group):
        for stream in page["logStreams"]:
            name = stream["logStreamName"]
            events: list[dict[str, Any]] = []
            kwargs: dict[str, Any] = {
                "logGroupName": group,
                "logStreamName": name,
                "startFromHead": True,
            }
            while True:
                response = logs.get_log_events(**kwargs)
                events += [
                    {"timestamp": e["timestamp"], "message": e["message"]}
                    for e in response["events"]
                ]
                if not response["events"] or response["nextForwardToken"] == kwargs.get(
                    "nextToken"
                ):
                    break
                kwargs["nextToken"] = response["nextForwardToken"]
            saved[name] = events
    return saved


def _restore_log_group(logs: Any, group: str, saved: dict[str, list[dict[str, Any]]]) -> None:
    logs.create_log_group(logGroupName=group)
    for name, events in saved.items():
        logs.create_log_stream(logGroupName=group, logStreamName=name)
        ordered = sorted(events, key=lambda event: event["timestamp"])
        for start in range(0, len(ordered), 5000):
            logs.put_log_events(
                logGroupName=group, logStreamName=name, logEvents=ordered[start : start + 5000]
            )


@pytest.fixture(autouse=True)
def _one_part(settings: Any) -> None:
    """These runs read their window in one go; tests/investigations/test_workers.py has parts."""
    settings.RUN_PART_SECONDS = 7 * 86400


@pytest.mark.parametrize("source", ["cloudwatch", "s3"])
def test_a_run_reads_the_instances_flow_log_from_aws(
    celery_worker_process: Any,
    demo_account: Any,
    investigation: Any,
    analyst: Any,
    source: str,
) -> None:
    client = client_for(analyst)
    response = client.post(
        reverse("investigations:run_create", args=[investigation.pk]),
        {
            "source": source,
            "account": demo_account.pk,
            "instance": "web",
            "analyses": ["traffic-summary", "ssh-inbound"],
            "top_n": 50,
            "rank_by": "flows",
            "start_time": "2d",
            "end_time": "now",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    run = QueryRun.objects.get()
    assert run.source == source
    assert run.parameters["target_ips"][0].startswith("10.0.1.")
    assert run.parameters["vpc_cidrs"] == ["10.0.0.0/16", "10.1.0.0/16"]
    run = wait_for_run(run, timeout=180)
    assert run.status == "succeeded", run.error + celery_worker_process.log()[-3000:]
    assert run.records["ok"] > 0 and run.records["malformed"] == 0
    assert run.data_read["source"] == source
    assert run.data_read["account"] == demo_account.account_id
    assert run.data_read["role_session"] == "portal-alice"
    ssh = {
        r["srcaddr"]
        for r in run.results.get(analysis="ssh-inbound").rows.values_list("data", flat=True)
    }
    assert "203.0.113.50" in ssh  # the planted brute force reached the web instance
    assumed = AuditEvent.objects.filter(
        action="aws_account.role_assumed", details__purpose=f"run #{run.pk}"
    )
    assert assumed.count() == 1 and assumed.get().actor == analyst
    page = client.get(reverse("investigations:run_detail", args=[run.pk])).content.decode()
    assert "Data read from AWS" in page and "portal-alice" in page
    listed = run.data_read["streams"] if source == "cloudwatch" else run.data_read["objects"]
    first = listed[0]["name"] if source == "cloudwatch" else listed[0]["key"]
    assert first in page


def test_a_missing_flow_log_source_is_refused_up_front(
    demo_account: Any, investigation: Any, analyst: Any
) -> None:
    from accounts.models import FlowLogConfig

    FlowLogConfig.objects.filter(account=demo_account, destination_type="s3").delete()
    with pytest.raises(RunRequestInvalid, match="No S3 flow log covers i-"):
        submit_run(
            user=analyst,
            investigation=investigation,
            analyses=["traffic-summary"],
            account=demo_account,
            instance="web",
            source="s3",
        )
    with pytest.raises(RunRequestInvalid, match="No discovered instance"):
        submit_run(
            user=analyst,
            investigation=investigation,
            analyses=["traffic-summary"],
            account=demo_account,
            instance="i-doesnotexist",
            source="auto",
        )
    assert not QueryRun.objects.exists()


def test_a_second_run_over_the_same_data_reads_the_cache_not_aws(
    celery_worker_process: Any,
    demo_account: Any,
    investigation: Any,
    analyst: Any,
    moto_endpoint: str,
) -> None:
    import boto3
    from django.utils import timezone

    end = timezone.now().replace(microsecond=0)
    window = {"window_start": end - timezone.timedelta(days=2), "window_end": end}

    def run_once() -> QueryRun:
        run = submit_run(
            user=analyst,
            investigation=investigation,
            analyses=["traffic-summary"],
            account=demo_account,
            instance="web",
            source="cloudwatch",
            **window,
        )
        return wait_for_run(run, timeout=180)

    first = run_once()
    assert first.status == "succeeded", first.error
    assert first.data_read["cache"]["hit"] is False
    # Take the data away in "AWS": a second run can only succeed from the cache.
    logs = boto3.client(
        "logs",
        region_name="us-east-1",
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    group = first.data_read["log_group"]
    saved = _log_group_events(logs, group)
    logs.delete_log_group(logGroupName=group)
    try:
        second = run_once()
    finally:  # the moto server outlives this test: later tests need the demo's log group
        _restore_log_group(logs, group, saved)
    assert second.status == "succeeded", second.error
    assert second.data_read["cache"]["hit"] is True
    assert second.records["ok"] == first.records["ok"] > 0
    rows = [
        list(r.results.get(analysis="traffic-summary").rows.values_list("data", flat=True))
        for r in (first, second)
    ]
    assert rows[0] == rows[1]


def test_the_analyst_can_override_flow_log_and_interfaces(
    demo_account: Any, investigation: Any, analyst: Any
) -> None:
    from accounts.models import FlowLogConfig

    s3_log = FlowLogConfig.objects.get(account=demo_account, destination_type="s3")
    run = submit_run(
        user=analyst,
        investigation=investigation,
        analyses=["traffic-summary"],
        account=demo_account,
        instance="web",
        source="auto",
        flow_log_id=s3_log.flow_log_id,
        interfaces=["eni-override"],
        parameters={"target_ips": ["10.0.1.99"], "vpc_cidrs": ["10.0.0.0/8"]},
    )
    assert run.source == "s3"
    assert run.source_config["flow_log"]["flow_log_id"] == s3_log.flow_log_id
    assert run.source_config["instance"]["interfaces"] == ["eni-override"]
    assert run.parameters["target_ips"] == ["10.0.1.99"]
    assert run.parameters["vpc_cidrs"] == ["10.0.0.0/8"]
    assert wait_for_run(run, timeout=180).status == "succeeded"
    with pytest.raises(RunRequestInvalid, match="no flow log 'fl-nope'"):
        submit_run(
            user=analyst,
            investigation=investigation,
            analyses=["traffic-summary"],
            account=demo_account,
            instance="web",
            flow_log_id="fl-nope",
        )


def _run_with_a_broken_object(
    moto_endpoint: str,
    account: Any,
    investigation: Any,
    analyst: Any,
    *,
    hour: Any,
    window: tuple[Any, Any],
) -> QueryRun:
    """A run over `window` of the account's S3 flow log, beside which a gzip object for
    `hour` was cut off halfway (removed again afterwards: the moto server outlives the test)."""
    import gzip

    import boto3

    from accounts.demo import DEMO_REGION, s3_key
    from accounts.models import FlowLogConfig

    flow_log = FlowLogConfig.objects.get(account=account, destination_type="s3")
    key = s3_key(account.account_id, DEMO_REGION, flow_log.flow_log_id, hour, "badc0ffe")
    body = gzip.compress(b"version account-id\n" + b"2 123456789012\n" * 2000)
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.put_object(Bucket=flow_log.s3_bucket, Key=key, Body=body[: len(body) // 2])
    try:
        run = submit_run(
            user=analyst,
            investigation=investigation,
            analyses=["traffic-summary"],
            account=account,
            instance="web",
            source="s3",
            window_start=window[0],
            window_end=window[1],
        )
        return wait_for_run(run, timeout=180)
    finally:
        s3.delete_object(Bucket=flow_log.s3_bucket, Key=key)


def test_an_unreadable_s3_object_is_skipped_named_and_the_rest_analysed(
    celery_worker_process: Any,
    demo_account: Any,
    investigation: Any,
    analyst: Any,
    moto_endpoint: str,
) -> None:
    from django.utils import timezone

    now = timezone.now()
    run = _run_with_a_broken_object(
        moto_endpoint,
        demo_account,
        investigation,
        analyst,
        hour=(now - timezone.timedelta(hours=1)).replace(minute=0, second=0, microsecond=0),
        window=(now - timezone.timedelta(days=2), now),
    )
    assert run.status == "succeeded", run.error
    assert run.records["ok"] > 0  # every other object, whole
    [skipped] = run.unreadable_files
    assert "badc0ffe" in skipped["name"] and "GZIP" in skipped["error"]
    assert "/var/" not in skipped["error"] and "flowcache" not in skipped["error"]
    files = len(run.records["files"])
    page = client_for(analyst).get(reverse("investigations:run_detail", args=[run.pk]))
    text = page.content.decode()
    assert f"1 of {files} files could not be read and was skipped whole" in text
    assert skipped["name"] in text


def test_a_run_whose_only_object_is_unreadable_fails_and_names_it(
    celery_worker_process: Any,
    demo_account: Any,
    investigation: Any,
    analyst: Any,
    moto_endpoint: str,
) -> None:
    from django.utils import timezone

    hour = (timezone.now() - timezone.timedelta(days=10)).replace(minute=0, second=0, microsecond=0)
    run = _run_with_a_broken_object(
        moto_endpoint,
        demo_account,
        investigation,
        analyst,
        hour=hour,
        window=(hour, hour + timezone.timedelta(minutes=30)),
    )
    assert run.status == "failed"
    assert run.error.startswith("None of the 1 file(s) could be read ("), run.error
    assert "badc0ffe" in run.error and "GZIP" in run.error
    assert not run.results.exists()
