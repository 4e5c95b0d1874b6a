"""A disk already full when the engine creates the run's database file in the flow cache: the
run fails as the storage error the README promises, without the server's paths, and leaves no
half-built cache folder behind. The full disk is injected where DuckDB opens the file (a small
tmpfs cannot be mounted everywhere), in both forms it takes: an OSError and DuckDB's own
IOException."""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from django.conf import settings

import analysis.engine
from investigations.models import QueryRun
from investigations.runs.pipeline import execute
from investigations.runs.submit import submit_run
from portal.audit_verify import verify_audit_log
from tests.flowlogs import sample_upload

pytestmark = pytest.mark.django_db


def _as_oserror(path: str) -> BaseException:
    return OSError(errno.ENOSPC, "No space left on device", path)


def _as_duckdb(path: str) -> BaseException:
    return duckdb.IOException(f'IO Error: Could not write file "{path}": No space left on device')


def _full_disk_under_the_cache(
    monkeypatch: pytest.MonkeyPatch, error: Callable[[str], BaseException]
) -> list[str]:
    """duckdb.connect fails for every database file in the flow cache, as on a full disk."""
    real = duckdb.connect
    refused: list[str] = []
    cache = str(settings.FLOW_CACHE_DIR)

    def connect(database: str = ":memory:", *args: Any, **kwargs: Any) -> Any:
        if str(database).startswith(cache):
            refused.append(str(database))
            raise error(str(database))
        return real(database, *args, **kwargs)

    monkeypatch.setattr(analysis.engine.duckdb, "connect", connect)
    return refused


def _run_now(run: QueryRun) -> QueryRun:
    claimed = QueryRun.claim(run.pk, worker="test")
    assert claimed is not None
    execute(claimed)
    claimed.refresh_from_db()
    return claimed


def _cache_folders() -> list[str]:
    root = Path(settings.FLOW_CACHE_DIR)
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


@pytest.mark.parametrize("error", [_as_oserror, _as_duckdb], ids=["oserror", "duckdb"])
def test_a_full_disk_when_the_engine_opens_its_file_is_a_storage_error_with_nothing_left(
    investigation: Any,
    analyst: Any,
    monkeypatch: pytest.MonkeyPatch,
    error: Callable[[str], BaseException],
) -> None:
    before = _cache_folders()
    refused = _full_disk_under_the_cache(monkeypatch, error)
    run = submit_run(
        user=analyst,
        investigation=investigation,
        analyses=["traffic-summary"],
        files=[sample_upload()],
    )
    run = _run_now(run)
    assert refused, "the engine never opened a file in the flow cache"
    assert run.status == "failed"
    assert run.error.startswith("Storage error in the portal's scratch space"), run.error
    assert "No space left on device" in run.error
    assert "IOException" not in run.error and "Internal error" not in run.error
    assert str(settings.DATA_DIR) not in run.error, run.error
    assert _cache_folders() == before  # no half-built ".<key>-..." folder
    assert verify_audit_log().intact
