"""The demo world on a real moto server (the session's ThreadedMotoServer on a free local port)."""

from __future__ import annotations

import gzip
import urllib.request
from io import StringIO
from typing import Any

import boto3
import pytest
from django.core.management import call_command

from accounts import services
from accounts.demo import DEMO_ACCOUNT_NAME, DEMO_LOG_GROUP, DEMO_REGION, demo_bucket
from accounts.models import AwsAccount, FlowLogConfig, Instance, Vpc
from analysis.demo import INSTANCES
from tests.accounts.conftest import ACCOUNT

LINES = 2000


@pytest.fixture
def moto_server(moto_endpoint: str) -> str:
    """The session's moto server (tests/conftest.py), emptied first: one server per test
    process instead of one per test."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")  # noqa: S310
    with urllib.request.urlopen(request) as response:  # noqa: S310 (the local moto server)
        assert response.status == 200
    return moto_endpoint


def _client(service: str, url: str) -> Any:
    return boto3.client(service, region_name=DEMO_REGION, endpoint_url=url)


@pytest.mark.django_db
def test_the_demo_world_matches_the_generator_and_is_discovered(
    moto_server: str, admin_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = StringIO()
    call_command("seed_demo_aws", "--endpoint-url", moto_server, "--lines", str(LINES), stdout=out)
    account = AwsAccount.objects.get(name=DEMO_ACCOUNT_NAME)
    assert f"AWS account #{account.pk}" in out.getvalue()
    assert (account.account_id, account.regions) == (ACCOUNT, [DEMO_REGION])
    assert account.discovered_at is not None

    vpc = Vpc.objects.get(account=account, name="flowlog-portal-demo")
    assert vpc.cidrs == ["10.0.0.0/16", "10.1.0.0/16"]
    instances = {i.name: i for i in Instance.objects.filter(account=account, vpc_id=vpc.vpc_id)}
    assert {name: i.private_ips for name, i in instances.items()} == {
        demo.name: [demo.ip] for demo in INSTANCES
    }
    assert len(instances["web"].public_ips) == 1 and instances["app"].public_ips == []
    moto_enis = {i.interfaces[0] for i in instances.values()}

    flow_logs = FlowLogConfig.objects.filter(account=account, resource_id=vpc.vpc_id)
    assert sorted((f.destination_type, f.log_group_name, f.s3_bucket) for f in flow_logs) == [
        ("cloud-watch-logs", DEMO_LOG_GROUP, ""),
        ("s3", "", demo_bucket(ACCOUNT)),
    ]

    # CloudWatch holds every generated record, one stream per (moto) interface.
    logs = _client("logs", moto_server)
    streams = {
        s["logStreamName"]
        for s in logs.describe_log_streams(logGroupName=DEMO_LOG_GROUP)["logStreams"]
    }
    assert streams == {f"{eni}-all" for eni in moto_enis}
    messages = [
        e["message"]
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName=DEMO_LOG_GROUP)
        for e in page["events"]
    ]
    assert len(messages) == LINES
    assert {m.split(" ")[2] for m in messages} == moto_enis  # no generator ids left

    # S3 holds the same records in AWS's default layout, gzip, a header line per file.
    s3 = _client("s3", moto_server)
    prefix = f"AWSLogs/{ACCOUNT}/vpcflowlogs/{DEMO_REGION}/"
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=demo_bucket(ACCOUNT), Prefix=prefix
        )
        for o in page.get("Contents", [])
    ]
    assert keys and all(k.endswith(".log.gz") for k in keys)
    s3_lines: list[str] = []
    for key in keys:
        text = gzip.decompress(
            s3.get_object(Bucket=demo_bucket(ACCOUNT), Key=key)["Body"].read()
        ).decode()
        header, *rows = text.splitlines()
        assert header.startswith("version account-id interface-id srcaddr dstaddr")
        s3_lines += rows
    assert sorted(s3_lines) == sorted(messages)

    web = services.resolve_instance(user=admin_user, account=account, query="web")
    assert web.private_ips == ["10.0.1.10"] and web.vpc_cidrs == ["10.0.0.0/16", "10.1.0.0/16"]
    assert web.flow_log is not None
    assert (web.flow_log["source"], web.flow_log["log_group_name"]) == (
        "cloudwatch",
        DEMO_LOG_GROUP,
    )
    assert [f["source"] for f in web.flow_logs] == ["cloudwatch", "s3"]

    # Seeding again builds nothing twice.
    call_command(
        "seed_demo_aws", "--endpoint-url", moto_server, "--lines", str(LINES), stdout=StringIO()
    )
    assert AwsAccount.objects.get(name=DEMO_ACCOUNT_NAME).pk == account.pk
    assert Instance.objects.filter(account=account, vpc_id=vpc.vpc_id).count() == len(INSTANCES)

    # The portal reaches the same server through AWS_ENDPOINT_URL alone.
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    result = services.run_connection_test(user=admin_user, account=account)
    assert result["ok"] is True, [c for c in result["checks"] if not c["ok"]]
    assert {c["check"] for c in result["checks"]} >= {"s3:GetObject", "logs:FilterLogEvents"}
