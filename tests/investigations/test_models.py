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


def test_progress_carries_records_so_far_and_a_requeue_resets_them(run: QueryRun) -> None:
    claimed = QueryRun.claim(run.pk)
    assert claimed is not None
    claimed.report_progress(percent=30, stage="Parsing", records=1234)
    claimed.refresh_from_db()
    assert claimed.records_so_far == 1234
    claimed.report_progress(percent=31, stage="Parsing")  # no count: the last one stays
    claimed.refresh_from_db()
    assert claimed.records_so_far == 1234
    assert claimed.requeue(reason="worker lost")
    claimed.refresh_from_db()
    assert claimed.records_so_far == 0


def test_a_run_reports_records_so_far_while_it_loads(
    investigation: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Executed in this process (the task is queued only on commit, which a test never does):
    every progress write after the first file carries the rows loaded so far."""
    from investigations.runs import pipeline, progress
    from investigations.runs.submit import submit_run
    from tests.flowlogs import SAMPLE_TEXT, sample_upload

    monkeypatch.setattr(progress, "PROGRESS_EVERY_SECONDS", 0)
    seen: list[int | None] = []
    original = QueryRun.report_progress

    def spy(self: QueryRun, *, percent: int, stage: str, records: int | None = None) -> None:
        seen.append(records)
        original(self, percent=percent, stage=stage, records=records)

    monkeypatch.setattr(QueryRun, "report_progress", spy)
    submitted = submit_run(
        user=investigation.owner,
        investigation=investigation,
        analyses=["traffic-summary"],
        files=[sample_upload("a.log"), sample_upload("b.log", gzip=True)],
    )
    claimed = QueryRun.claim(submitted.pk)
    assert claimed is not None
    pipeline.execute(claimed)
    claimed.refresh_from_db()
    assert claimed.status == "succeeded", claimed.error
    per_file = claimed.records["ok"] // 2
    assert per_file == len([line for line in SAMPLE_TEXT.splitlines() if " OK" in line])
    assert per_file in seen and 2 * per_file in seen
    assert seen[-1] == 2 * per_file  # analysing and saving report the full count


def _two_runs_over_one_upload(investigation: Any, analyses: list[str]) -> tuple[Any, Any]:
    """A queued run over an uploaded file, and a second queued run over the same upload."""
    from investigations.runs.submit import submit_run
    from tests.flowlogs import sample_upload

    first = submit_run(
        user=investigation.owner,
        investigation=investigation,
        analyses=["traffic-summary"],
        files=[sample_upload("a.log")],
    )
    second = QueryRun.objects.create(
        investigation=investigation,
        requested_by=investigation.owner,
        analyses=analyses,
        source=first.source,
    )
    second.uploads.set(first.uploads.all())
    return first, second


def _execute_now(run: Any) -> Any:
    """What the worker does, here in the test's process; the run as it ended."""
    from investigations.runs import pipeline

    claimed = QueryRun.claim(run.pk)
    assert claimed is not None
    pipeline.execute(claimed)
    claimed.refresh_from_db()
    return claimed


def test_a_second_run_over_the_same_uploads_analyses_the_cached_flows_in_place(
    investigation: Any, settings: Any, tmp_path: Any
) -> None:
    from analysis.engine import FlowEngine

    settings.FLOW_CACHE_DIR = tmp_path / "flowcache"
    first, second = _two_runs_over_one_upload(investigation, ["ssh-inbound"])
    opened: list[FlowEngine] = []
    original = FlowEngine.__init__

    def spy(self: FlowEngine, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        opened.append(self)

    for run in (first, second):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(FlowEngine, "__init__", spy)
            ended = _execute_now(run)
        assert ended.status == "succeeded", ended.error
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.data_read["cache"]["hit"] is False
    assert second.data_read["cache"]["hit"] is True
    assert second.data_read["files"] == first.data_read["files"]  # what was read, named as uploaded
    assert second.records["ok"] == first.records["ok"] > 0
    # The first run loads into the new entry's file, then analyses it read-only; the second
    # only opens that file.
    assert [engine.read_only for engine in opened] == [False, True, True]
    entry = str(settings.FLOW_CACHE_DIR / first.data_read["cache"]["key"] / "flows.duckdb")
    assert opened[0].database is not None and opened[0].database.startswith(
        str(settings.FLOW_CACHE_DIR)
    )
    assert opened[1].database == opened[2].database == entry
    assert second.results.get().rows.exists()


def test_a_damaged_cache_entry_is_loaded_again_and_replaced(
    investigation: Any, settings: Any, tmp_path: Any
) -> None:
    settings.FLOW_CACHE_DIR = tmp_path / "flowcache"
    first, second = _two_runs_over_one_upload(investigation, ["traffic-summary"])
    first = _execute_now(first)
    entry = settings.FLOW_CACHE_DIR / first.data_read["cache"]["key"]
    (entry / "flows.duckdb").write_bytes(b"not a database")
    second = _execute_now(second)
    assert second.status == "succeeded", second.error
    assert second.data_read["cache"]["hit"] is False  # loaded again, not served the damage
    assert second.records["ok"] == first.records["ok"] > 0
    assert (entry / "flows.duckdb").read_bytes()[:16] != b"not a database"


def test_a_cache_entry_that_cannot_be_published_costs_the_run_nothing(
    investigation: Any, settings: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from analysis.cache import PendingFlows

    settings.FLOW_CACHE_DIR = tmp_path / "flowcache"

    def full_disk(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PendingFlows, "publish", full_disk)
    claimed = _execute_now(_two_runs_over_one_upload(investigation, ["traffic-summary"])[0])
    assert claimed.status == "succeeded", claimed.error
    assert claimed.records["ok"] > 0 and claimed.results.get().rows.exists()
    assert claimed.data_read["cache"] == {"hit": False, "stored": False}
    assert list((tmp_path / "flowcache").iterdir()) == []  # nothing left behind
