"""QueryRun status moves: only legal transitions, and a claim wins exactly once."""

from __future__ import annotations

from typing import Any

import pytest

from investigations.models import IllegalRunTransition, QueryRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(investigation: Any) -> QueryRun:
    return QueryRun.objects.create(
        investigation=investigation, requested_by=investigation.owner, analyses=["ssh-inbound"]
    )


def test_a_run_is_claimed_exactly_once(run: QueryRun) -> None:
    claimed = QueryRun.claim(run.pk)
    assert claimed is not None and claimed.status == "running"
    assert claimed.started_at is not None
    assert QueryRun.claim(run.pk) is None


def test_a_queued_run_cannot_succeed_directly(run: QueryRun) -> None:
    with pytest.raises(IllegalRunTransition):
        run.mark_succeeded(records={}, data_read={})
    run.refresh_from_db()
    assert run.status == "queued"


def test_a_finished_run_cannot_move_again(run: QueryRun) -> None:
    claimed = QueryRun.claim(run.pk)
    assert claimed is not None
    assert claimed.mark_failed(error="boom")
    with pytest.raises(IllegalRunTransition):
        claimed.mark_succeeded(records={}, data_read={})
    with pytest.raises(IllegalRunTransition):
        claimed.mark_cancelled()
    claimed.refresh_from_db()
    assert claimed.status == "failed" and claimed.error == "boom"


def test_a_stale_copy_loses_the_race(run: QueryRun) -> None:
    claimed = QueryRun.claim(run.pk)
    assert claimed is not None
    stale = QueryRun.objects.get(pk=run.pk)
    assert claimed.mark_cancelled()
    assert stale.mark_succeeded(records={}, data_read={}) is False
    stale.refresh_from_db()
    assert stale.status == "cancelled"


def test_progress_is_only_written_while_running(run: QueryRun) -> None:
    run.report_progress(percent=50, stage="Parsing")
    run.refresh_from_db()
    assert run.progress == 0
    claimed = QueryRun.claim(run.pk)
    assert claimed is not None
    claimed.report_progress(percent=150, stage="Parsing")
    claimed.refresh_from_db()
    assert claimed.progress == 99 and claimed.stage == "Parsing"
