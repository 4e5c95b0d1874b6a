"""Run history across investigations: managers see all, analysts their own; filters match the
API's."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from investigations.models import QueryRun
from tests.conftest import client_for
from tests.factories import InvestigationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(investigation: Any, outsider: Any) -> dict[str, QueryRun]:
    private = InvestigationFactory(owner=outsider, title="Mallory's own")
    return {
        "ssh": QueryRun.objects.create(
            investigation=investigation,
            requested_by=investigation.owner,
            analyses=["ssh-inbound"],
            status="succeeded",
        ),
        "summary": QueryRun.objects.create(
            investigation=investigation,
            requested_by=investigation.owner,
            analyses=["traffic-summary"],
            status="failed",
        ),
        "private": QueryRun.objects.create(
            investigation=private, requested_by=outsider, analyses=["ssh-inbound"]
        ),
    }


def test_a_manager_sees_every_run_and_filters_them(runs: dict[str, QueryRun], manager: Any) -> None:
    client = client_for(manager)
    page = client.get(reverse("investigations:run_history"))
    assert b"Mallory&#x27;s own" in page.content and b"Web tier brute force" in page.content
    failed = client.get(reverse("investigations:run_history"), {"status": "failed"})
    assert f"#{runs['summary'].pk}<".encode() in failed.content
    assert f"#{runs['ssh'].pk}<".encode() not in failed.content
    api = client.get("/api/v1/runs/", {"analysis": "ssh-inbound", "analyst": "mallory"}).json()
    assert [r["id"] for r in api["results"]] == [runs["private"].pk]


def test_an_analyst_sees_only_runs_of_their_investigations(
    runs: dict[str, QueryRun], teammate: Any
) -> None:
    page = client_for(teammate).get(reverse("investigations:run_history"))
    assert b"Mallory" not in page.content
    ids = {r["id"] for r in client_for(teammate).get("/api/v1/runs/").json()["results"]}
    assert ids == {runs["ssh"].pk, runs["summary"].pk}


def test_bad_filters_are_a_400_in_the_api(runs: dict[str, QueryRun], manager: Any) -> None:
    response = client_for(manager).get("/api/v1/runs/", {"since": "last tuesday"})
    assert response.status_code == 400
    assert "since" in response.json()


@pytest.fixture
def aws_runs(investigation: Any) -> dict[str, Any]:
    """Runs over two AWS accounts (as submit_run records them) and one over uploaded files."""
    from accounts.models import AwsAccount

    prod = AwsAccount.objects.create(
        name="Production",
        account_id="111111111111",
        role_arn="arn:aws:iam::111111111111:role/Reader",
    )
    staging = AwsAccount.objects.create(
        name="Staging", account_id="222222222222", role_arn="arn:aws:iam::222222222222:role/Reader"
    )

    def aws_run(account: Any, name: str) -> QueryRun:
        return QueryRun.objects.create(
            investigation=investigation,
            requested_by=investigation.owner,
            analyses=[name],
            source="cloudwatch",
            source_config={
                "account": account.pk,
                "account_id": account.account_id,
                "kind": "cloudwatch",
                "instance": {"instance_id": "i-0abc", "name": "web-1"},
            },
        )

    return {
        "prod": prod,
        "staging": staging,
        "prod_run": aws_run(prod, "ssh-inbound"),
        "staging_run": aws_run(staging, "rejected"),
        "upload_run": QueryRun.objects.create(
            investigation=investigation,
            requested_by=investigation.owner,
            analyses=["traffic-summary"],
        ),
    }


def test_history_filters_runs_by_aws_account(aws_runs: dict[str, Any], manager: Any) -> None:
    client = client_for(manager)
    page = client.get(
        reverse("investigations:run_history"), {"account": aws_runs["prod"].pk}
    ).content.decode()
    assert f"#{aws_runs['prod_run'].pk}<" in page
    assert f"#{aws_runs['staging_run'].pk}<" not in page
    assert f"#{aws_runs['upload_run'].pk}<" not in page
    assert "account 111111111111 · web-1" in page
    prod = aws_runs["prod"].pk
    assert f'<option value="{prod}" selected>Production (111111111111)</option>' in page
    api = client.get("/api/v1/runs/", {"account": aws_runs["staging"].pk}).json()
    assert [r["id"] for r in api["results"]] == [aws_runs["staging_run"].pk]


def test_the_account_filter_finds_runs_of_an_earlier_registration(
    aws_runs: dict[str, Any], manager: Any
) -> None:
    """Matched on the 12-digit AWS account ID: deleting and registering the account again
    keeps its history."""
    from accounts.models import AwsAccount

    old_pk = aws_runs["prod"].pk
    aws_runs["prod"].delete()
    again = AwsAccount.objects.create(
        name="Production again",
        account_id="111111111111",
        role_arn="arn:aws:iam::111111111111:role/Reader",
    )
    assert again.pk != old_pk
    ids = [
        r["id"]
        for r in client_for(manager).get("/api/v1/runs/", {"account": again.pk}).json()["results"]
    ]
    assert ids == [aws_runs["prod_run"].pk]


def test_an_unknown_account_is_a_400_in_the_api_and_an_error_on_the_page(
    aws_runs: dict[str, Any], manager: Any
) -> None:
    client = client_for(manager)
    assert client.get("/api/v1/runs/", {"account": 999_999}).status_code == 400
    page = client.get(reverse("investigations:run_history"), {"account": "x"}).content.decode()
    assert 'role="alert"' in page and "No runs match." in page


def test_the_investigation_list_filters_by_aws_account(
    aws_runs: dict[str, Any], analyst: Any
) -> None:
    other = InvestigationFactory(owner=analyst, title="Uploads only")
    QueryRun.objects.create(investigation=other, requested_by=analyst, analyses=["x"])
    client = client_for(analyst)
    body = client.get(
        reverse("investigations:list"), {"account": aws_runs["prod"].pk}
    ).content.decode()
    assert "Web tier brute force" in body and "Uploads only" not in body
    assert body.count(">Web tier brute force</a>") == 1  # two matching runs, one row
