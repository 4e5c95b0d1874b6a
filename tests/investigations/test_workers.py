"""Work shared across Celery workers: long AWS windows fetched in parts on the download queue
and analysed together, a per-account cap that holds across workers, and ten runs at once on two
real workers — with results equal to one worker's."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from investigations.models import QueryRun
from investigations.runs.submit import submit_run
from portal import concurrency
from tests.conftest import WorkerProcess, wait_for_run
from tests.flowlogs import sample_upload

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

ANALYSES = ["traffic-summary", "ssh-inbound", "top-talkers", "rejected"]


@pytest.fixture
def demo_account(moto_endpoint: str) -> Any:
    from accounts.demo import seed_demo_account

    return seed_demo_account(moto_endpoint, lines=4000)


@pytest.fixture
def second_worker(celery_worker_process: WorkerProcess) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(
        celery_worker_process.database_url,
        celery_worker_process.moto_url,
        celery_worker_process.rdap_url,
        name="second",
    )
    worker.start()
    yield worker
    worker.stop()


def _window() -> dict[str, Any]:
    end = timezone.now().replace(microsecond=0)
    return {"window_start": end - timezone.timedelta(days=2), "window_end": end}


def _rows(run: QueryRun) -> dict[str, list[Any]]:
    return {
        result.analysis: sorted(map(repr, result.rows.values_list("data", flat=True)))
        for result in run.results.all()
    }


def _aws_run(
    analyst: Any, investigation: Any, account: Any, window: dict[str, Any], source: str = "s3"
) -> QueryRun:
    return submit_run(
        user=analyst,
        investigation=investigation,
        analyses=ANALYSES,
        account=account,
        instance="web",
        source=source,
        **window,
    )


@pytest.mark.parametrize("source", ["s3", "cloudwatch"])
def test_a_long_window_is_fetched_in_parts_and_gives_the_one_worker_results(
    celery_worker_process: Any,
    second_worker: WorkerProcess,
    demo_account: Any,
    investigation: Any,
    analyst: Any,
    settings: Any,
    source: str,
) -> None:
    window = _window()
    settings.RUN_PART_SECONDS = 6 * 3600  # a 48 h window: 8 parts
    parted = _aws_run(analyst, investigation, demo_account, window, source)
    parted = wait_for_run(parted, timeout=180)
    # The analysis of the parts left one cache entry for the whole window: the next run over
    # it opens that entry and gathers nothing.
    again = wait_for_run(
        _aws_run(analyst, investigation, demo_account, window, source), timeout=180
    )
    assert again.status == "succeeded", again.error
    assert again.data_read["cache"]["hit"] is True and again.parts_total == 0
    assert _rows(again) == _rows(parted)
    # Without the cache, one worker fetches the whole window itself.
    for entry in Path(django_settings.FLOW_CACHE_DIR).iterdir():
        shutil.rmtree(entry, ignore_errors=True)
    settings.RUN_PART_SECONDS = 7 * 86400
    whole = wait_for_run(
        _aws_run(analyst, investigation, demo_account, window, source), timeout=180
    )
    assert whole.status == parted.status == "succeeded", (
        whole.error
        + parted.error
        + celery_worker_process.log()[-3000:]
        + second_worker.log()[-3000:]
    )
    assert whole.data_read["cache"]["hit"] is False, whole.data_read
    assert (whole.source_config["parts"], parted.source_config["parts"]) == (1, 8)
    assert parted.parts_total == parted.parts_done == 8
    assert _rows(parted) == _rows(whole)
    counts = ("total", "ok", "nodata", "skipdata", "malformed", "filtered_out")
    assert {k: parted.records[k] for k in counts} == {k: whole.records[k] for k in counts}
    assert parted.records["ok"] > 0
    # What was read adds up, part by part, to what one worker read.
    assert len(parted.data_read["parts"]) == 8
    assert parted.data_read["bytes"] == whole.data_read["bytes"]
    if source == "s3":
        assert sorted(o["key"] for o in parted.data_read["objects"]) == sorted(
            o["key"] for o in whole.data_read["objects"]
        )
    else:
        assert parted.data_read["events"] == whole.data_read["events"]
    assert concurrency.holders(f"aws-account:{demo_account.pk}") == []


def test_ten_runs_on_two_workers_all_finish_and_the_account_cap_holds(
    celery_worker_process: Any,
    second_worker: WorkerProcess,
    demo_account: Any,
    investigation: Any,
    analyst: Any,
    settings: Any,
) -> None:
    """The workers run with RUN_MAX_PER_ACCOUNT=1 (tests/conftest.py): the AWS runs of one
    account never overlap, whichever worker took them; the file runs are not capped."""
    settings.RUN_PART_SECONDS = 12 * 3600  # each AWS run in 4 parts, spread over both workers
    window = _window()
    aws = [_aws_run(analyst, investigation, demo_account, window) for _ in range(4)]
    files = [
        submit_run(
            user=analyst,
            investigation=investigation,
            analyses=ANALYSES,
            files=[sample_upload(f"part{n}.log")],
        )
        for n in range(6)
    ]
    try:
        done = [wait_for_run(run, timeout=300) for run in [*aws, *files]]
    except AssertionError as stuck:
        raise AssertionError(
            f"{stuck}\n{[(r.pk, r.status, r.stage) for r in QueryRun.objects.order_by('pk')]}\n"
            + celery_worker_process.log()[-4000:]
            + second_worker.log()[-4000:]
        ) from None

    assert [run.status for run in done] == ["succeeded"] * 10, [run.error for run in done]
    aws_done, files_done = done[:4], done[4:]
    spans = sorted((run.started_at, run.finished_at) for run in aws_done)
    assert all(earlier[1] <= later[0] for earlier, later in pairwise(spans))
    # Every AWS run gives what one worker gives, and so does every file run.
    assert all(_rows(run) == _rows(aws_done[0]) for run in aws_done)
    assert all(_rows(run) == _rows(files_done[0]) for run in files_done)
    workers = {run.worker.split("@")[0] for run in done}
    assert workers == {"test", "second"}, workers
    assert concurrency.holders(f"aws-account:{demo_account.pk}") == []
