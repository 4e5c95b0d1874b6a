"""The SIEM pull: change feeds give every change exactly once, even under concurrent writers."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest
from django.db import connection, transaction

from investigations.models import Finding, QueryRun
from investigations.services import set_finding_status
from tests.conftest import client_for


def _finished_run_with_findings(investigation: Any, count: int) -> list[Finding]:
    run = QueryRun.objects.create(
        investigation=investigation, requested_by=investigation.owner, analyses=["detections"]
    )
    claimed = QueryRun.claim(run.pk)
    assert claimed is not None
    with transaction.atomic():
        findings = [
            Finding.objects.create(
                investigation=investigation,
                run=run,
                type="Recon:EC2/Portscan",
                severity=5,
                title=f"scan {i}",
            )
            for i in range(count)
        ]
        claimed.mark_succeeded(records={}, data_read={})
        Finding.objects.filter(run=run).update(change_number=claimed.change_number)
    return findings


@pytest.mark.django_db
def test_the_feed_pages_through_changes_and_then_only_new_ones(
    investigation: Any, analyst: Any
) -> None:
    findings = _finished_run_with_findings(investigation, 5)
    client = client_for(analyst)
    first = client.get("/api/v1/findings/changes/", {"limit": 3}).json()
    assert len(first["results"]) == 3 and first["has_more"] is True
    second = client.get(
        "/api/v1/findings/changes/", {"limit": 3, "cursor": first["next_cursor"]}
    ).json()
    assert len(second["results"]) == 2 and second["has_more"] is False
    seen = [f["id"] for f in first["results"] + second["results"]]
    assert sorted(seen) == sorted(f.pk for f in findings)
    idle = client.get("/api/v1/findings/changes/", {"cursor": second["next_cursor"]}).json()
    assert idle["results"] == [] and idle["next_cursor"] == second["next_cursor"]

    response = client.patch(
        f"/api/v1/findings/{findings[2].pk}/",
        {"status": "resolved"},
        content_type="application/json",
    )
    assert response.status_code == 200
    changed = client.get("/api/v1/findings/changes/", {"cursor": second["next_cursor"]}).json()
    assert [(f["id"], f["status"]) for f in changed["results"]] == [(findings[2].pk, "resolved")]
    assert client.get("/api/v1/findings/changes/", {"cursor": "nonsense"}).status_code == 400


@pytest.mark.django_db
def test_run_status_changes_appear_in_the_run_feed(investigation: Any, analyst: Any) -> None:
    run = QueryRun.objects.create(
        investigation=investigation, requested_by=analyst, analyses=["traffic-summary"]
    )
    client = client_for(analyst)
    assert client.get("/api/v1/runs/changes/").json()["results"] == []  # queued: not a change
    claimed = QueryRun.claim(run.pk)
    assert claimed is not None
    page = client.get("/api/v1/runs/changes/").json()
    assert [(r["id"], r["status"]) for r in page["results"]] == [(run.pk, "running")]
    claimed.mark_failed(error="boom")
    later = client.get("/api/v1/runs/changes/", {"cursor": page["next_cursor"]}).json()
    assert [(r["id"], r["status"]) for r in later["results"]] == [(run.pk, "failed")]


@pytest.mark.django_db(transaction=True)
def test_a_poller_sees_every_change_exactly_once_under_concurrent_writers(
    investigation: Any, analyst: Any
) -> None:
    findings = _finished_run_with_findings(investigation, 12)
    base = Finding.objects.order_by("-change_number").values_list("change_number", flat=True)[0]
    written: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    writers_done = threading.Event()

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(15):
                finding = Finding.objects.get(pk=rng.choice(findings).pk)
                with transaction.atomic():
                    changed = set_finding_status(
                        user=analyst,
                        finding=finding,
                        status=rng.choice(["open", "acknowledged", "resolved"]),
                    )
                    time.sleep(rng.uniform(0, 0.01))  # commit late, holding the counter
                with lock:
                    written.append(changed.change_number)
                time.sleep(rng.uniform(0, 0.005))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    seen: list[tuple[int, int]] = []

    def poller() -> None:
        client = client_for(analyst)
        cursor = f"{base}.{2**62}"
        try:
            while True:
                finished = writers_done.is_set()
                page = client.get(
                    "/api/v1/findings/changes/", {"cursor": cursor, "limit": 7}
                ).json()
                seen.extend((f["id"], f["change_number"]) for f in page["results"])
                cursor = page["next_cursor"]
                if finished and not page["has_more"]:
                    return
                time.sleep(0.002)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(4)]
    watcher = threading.Thread(target=poller)
    watcher.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writers_done.set()
    watcher.join(timeout=60)
    assert not errors, errors
    numbers_seen = [number for _, number in seen]
    assert len(numbers_seen) == len(set(numbers_seen)), "a change was delivered twice"
    # Each change is delivered with the finding's latest state; a change superseded before the
    # poller got to it is delivered as that later change. So: nothing seen twice, and every
    # finding's final change was seen.
    final = dict(
        Finding.objects.filter(pk__in=[f.pk for f in findings]).values_list("pk", "change_number")
    )
    changed_ids = {pk for pk, number in final.items() if number > base}
    last_seen = {}
    for pk, number in seen:
        last_seen[pk] = number
    assert {pk: last_seen.get(pk) for pk in changed_ids} == {pk: final[pk] for pk in changed_ids}
    assert set(numbers_seen) <= set(written)
    assert len(written) == 60
