"""Watch pages and API: "Watch this" on a finished AWS run, the investigation's list of watches,
a watch's page with its runs and alerts, and the `watches/` and `watch-alerts/` endpoints."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from investigations.models import QueryRun
from investigations.watches.models import Watch, WatchAlert, WatchRun
from portal.models import AuditEvent
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(db: Any) -> Any:
    from accounts.models import AwsAccount

    return AwsAccount.objects.create(
        name="Production",
        account_id="123456789012",
        role_arn="arn:aws:iam::123456789012:role/FlowLogPortalReader",
        regions=["eu-west-1"],
    )


@pytest.fixture
def aws_run(investigation: Any, analyst: Any, account: Any) -> QueryRun:
    return QueryRun.objects.create(
        investigation=investigation,
        requested_by=analyst,
        analyses=["detections"],
        parameters={"target_ips": ["10.0.1.10"]},
        source="s3",
        source_config={
            "account": account.pk,
            "account_id": account.account_id,
            "instance": {"instance_id": "i-0abc", "name": "web", "interfaces": ["eni-1"]},
            "flow_log": {"flow_log_id": "fl-1"},
            "engine": "local",
        },
        status="succeeded",
        records={"ok": 10},
    )


@pytest.fixture
def watch(aws_run: QueryRun, analyst: Any) -> Watch:
    from investigations.watches.services import create_watch_from_run

    watch = create_watch_from_run(user=analyst, run=aws_run, interval_minutes=30, k=2)
    later = QueryRun.objects.create(
        investigation=aws_run.investigation,
        requested_by=analyst,
        analyses=["detections"],
        source="s3",
        status="succeeded",
    )
    now = timezone.now()
    WatchRun.objects.create(
        watch=watch, run=later, window_start=now, window_end=now, rejected_flows=7
    )
    WatchAlert.objects.create(
        watch=watch, run=later, kind="rejected_spike", summary="5,000 REJECT flows", change_number=3
    )
    return watch


def test_watch_this_makes_a_watch_from_the_run_page(aws_run: QueryRun, analyst: Any) -> None:
    client = client_for(analyst)
    page = client.get(reverse("investigations:run_detail", args=[aws_run.pk])).content.decode()
    url = reverse("investigations:watch_create", args=[aws_run.pk])
    assert f'href="{url}"' in page
    assert client.get(url).status_code == 200
    response = client.post(url, {"interval_minutes": "0", "k": "3"})
    assert response.status_code == 400 and "problem" in response.content.decode()
    response = client.post(url, {"interval_minutes": "15", "k": "2.5"})
    watch = Watch.objects.get()
    assert response.status_code == 302 and response["Location"] == watch.get_absolute_url()
    assert (watch.interval_minutes, watch.k, watch.instance) == (15, 2.5, "i-0abc")
    assert watch.flow_log_id == "fl-1" and watch.engine == "local"


def test_a_file_run_and_a_managers_view_offer_no_watch(
    aws_run: QueryRun, manager: Any, analyst: Any, investigation: Any
) -> None:
    url = reverse("investigations:watch_create", args=[aws_run.pk])
    page = client_for(manager).get(reverse("investigations:run_detail", args=[aws_run.pk]))
    assert url not in page.content.decode()
    file_run = QueryRun.objects.create(
        investigation=investigation, requested_by=analyst, analyses=["x"], status="succeeded"
    )
    page = client_for(analyst).get(reverse("investigations:run_detail", args=[file_run.pk]))
    assert "Watch this" not in page.content.decode()
    response = client_for(analyst).post(
        reverse("investigations:watch_create", args=[file_run.pk]),
        {"interval_minutes": "15", "k": "3"},
    )
    assert response.status_code == 400 and "AWS source" in response.content.decode()


def test_the_investigation_lists_its_watches_with_the_last_alert(
    watch: Watch, investigation: Any, manager: Any
) -> None:
    page = client_for(manager).get(investigation.get_absolute_url()).content.decode()
    assert f'href="{watch.get_absolute_url()}"' in page
    assert "5,000 REJECT flows" in page and "30 min" in page


def test_the_watch_page_shows_runs_and_alerts_and_buttons_to_its_analysts(
    watch: Watch, analyst: Any, manager: Any
) -> None:
    url = watch.get_absolute_url()
    page = client_for(analyst).get(url).content.decode()
    assert "5,000 REJECT flows" in page and "Rejected flows spiked" in page
    assert reverse("investigations:watch_pause", args=[watch.pk]) in page
    assert reverse("investigations:watch_delete", args=[watch.pk]) in page
    managers = client_for(manager).get(url).content.decode()
    assert "5,000 REJECT flows" in managers
    assert reverse("investigations:watch_pause", args=[watch.pk]) not in managers
    assert ' style="' not in page


def test_pause_resume_and_delete_from_the_page(watch: Watch, teammate: Any) -> None:
    client = client_for(teammate)
    client.post(reverse("investigations:watch_pause", args=[watch.pk]))
    assert Watch.objects.get(pk=watch.pk).paused
    again = client.post(reverse("investigations:watch_pause", args=[watch.pk]), follow=True)
    assert "already paused" in again.content.decode()
    client.post(reverse("investigations:watch_resume", args=[watch.pk]))
    assert not Watch.objects.get(pk=watch.pk).paused
    response = client.post(reverse("investigations:watch_delete", args=[watch.pk]))
    assert response.status_code == 302 and response["Location"].endswith("#watches")
    assert not Watch.objects.exists() and QueryRun.objects.count() == 2
    assert AuditEvent.objects.filter(action="watch.deleted", actor=teammate).exists()


def test_the_api_makes_lists_changes_and_deletes_watches(
    aws_run: QueryRun, analyst: Any, investigation: Any
) -> None:
    client = client_for(analyst)
    response = client.post(
        "/api/v1/watches/",
        {"run": aws_run.pk, "interval_minutes": 20, "k": 1.5},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["instance"] == "i-0abc" and body["status"] == "active" and body["runs"] == []
    watch_id = body["id"]
    listed = client.get(f"/api/v1/watches/?investigation={investigation.pk}").json()
    assert [w["id"] for w in listed["results"]] == [watch_id]
    assert client.get("/api/v1/watches/?investigation=x").status_code == 400
    patched = client.patch(
        f"/api/v1/watches/{watch_id}/", {"k": 4}, content_type="application/json"
    ).json()
    assert patched["k"] == 4.0
    assert client.post(f"/api/v1/watches/{watch_id}/pause/").json()["status"] == "paused"
    assert client.post(f"/api/v1/watches/{watch_id}/pause/").status_code == 400
    assert client.post(f"/api/v1/watches/{watch_id}/resume/").json()["paused"] is False
    bad = client.post(
        "/api/v1/watches/",
        {"run": aws_run.pk, "interval_minutes": 0},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "interval_minutes" in bad.json()
    assert client.delete(f"/api/v1/watches/{watch_id}/").status_code == 204
    assert not Watch.objects.exists()


def test_the_alerts_api_filters_and_feeds_changes(
    watch: Watch, analyst: Any, outsider: Any
) -> None:
    client = client_for(analyst)
    alerts = client.get(f"/api/v1/watch-alerts/?watch={watch.pk}&kind=rejected_spike").json()
    assert [a["summary"] for a in alerts["results"]] == ["5,000 REJECT flows"]
    assert alerts["results"][0]["investigation"] == watch.investigation_id
    assert client.get("/api/v1/watch-alerts/?kind=nonsense").status_code == 400
    feed = client.get("/api/v1/watch-alerts/changes/?cursor=0.0").json()
    assert [a["kind"] for a in feed["results"]] == ["rejected_spike"]
    after = client.get(f"/api/v1/watch-alerts/changes/?cursor={feed['next_cursor']}").json()
    assert after["results"] == [] and after["has_more"] is False
    assert client_for(outsider).get("/api/v1/watch-alerts/").json()["results"] == []
