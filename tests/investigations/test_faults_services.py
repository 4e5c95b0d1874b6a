"""Faults around a run, with a real worker: the broker restarted mid-run, scratch space that
cannot be written or fills up, and upload names chosen by an attacker."""

from __future__ import annotations

import gzip
import io
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.files import File
from django.urls import reverse

from analysis.demo import generate
from investigations.models import QueryRun
from investigations.runs.reaper import reap_stale_runs
from investigations.runs.submit import submit_run
from tests.conftest import client_for, wait_for_run
from tests.flowlogs import SAMPLE_TEXT, sample_upload

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

STORAGE_KEY = re.compile(r"^[0-9a-f]{32}\.log$")


def _submit_big_run(client: Any, investigation: Any, big_log: Path) -> QueryRun:
    # One copy of the million lines: its load takes the worker a second or more, time enough
    # to pull the rug (three copies made the re-run after it three times as long).
    with big_log.open("rb") as a:
        files = [File(a, name="part-1.log")]
        response = client.post(
            reverse("investigations:run_create", args=[investigation.pk]),
            {
                "log_files": files,
                "analyses": ["traffic-summary", "ssh-inbound"],
                "top_n": 10,
                "rank_by": "flows",
            },
        )
    assert response.status_code == 302, response.content[:500]
    return QueryRun.objects.latest("pk")


def _submit_small_run(client: Any, investigation: Any, upload: Any = None) -> QueryRun:
    response = client.post(
        reverse("investigations:run_create", args=[investigation.pk]),
        {
            "log_files": upload or sample_upload(),
            "analyses": ["traffic-summary"],
            "top_n": 10,
            "rank_by": "flows",
        },
    )
    assert response.status_code == 302, response.content[:500]
    return QueryRun.objects.latest("pk")


def _wait_running(run: QueryRun, timeout: float = 60) -> QueryRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status != "queued":
            return run
        time.sleep(0.05)
    raise AssertionError("the run was never picked up")


# ------------------------------------------------------------------------------ Redis restart


def _redis_address() -> tuple[str, int]:
    url = urlsplit(django_settings.CELERY_BROKER_URL)
    return url.hostname or "127.0.0.1", url.port or 6379


def _redis_answers(host: str, port: int) -> bool:
    ping = subprocess.run(
        ["redis-cli", "-h", host, "-p", str(port), "ping"],
        capture_output=True,
        text=True,
        check=False,
    )
    return ping.stdout.strip() == "PONG"


def _restart_redis() -> None:
    """Stop Redis without saving (queued and unacknowledged messages are lost), start it again
    empty, and wait until it answers."""
    host, port = _redis_address()
    subprocess.run(
        ["redis-cli", "-h", host, "-p", str(port), "shutdown", "nosave"],
        capture_output=True,
        check=False,
    )
    deadline = time.monotonic() + 10
    while _redis_answers(host, port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _redis_answers(host, port), "Redis did not stop"
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            host,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
        capture_output=True,
    )
    deadline = time.monotonic() + 30
    while not _redis_answers(host, port):
        assert time.monotonic() < deadline, "Redis did not come back"
        time.sleep(0.1)


def _finish_or_reap(run: QueryRun, settings: Any, *, timeout: float) -> tuple[QueryRun, bool]:
    """Wait for the run to end. If it is stuck (its message was lost with Redis, or its worker
    went away), the reaper, as Celery beat runs it, must recover it. Says whether it had to."""
    try:
        return wait_for_run(run, timeout=timeout), False
    except AssertionError:
        pass
    settings.RUN_STALE_SECONDS = 2
    settings.RUN_RESEND_QUEUED_SECONDS = 1
    time.sleep(3)
    report = reap_stale_runs()
    assert run.pk in report.resent + report.requeued + report.failed, report
    return wait_for_run(run, timeout=180), True


@pytest.mark.exclusive
def test_runs_survive_a_redis_restart_and_the_worker_reconnects(
    celery_worker_process: Any, investigation: Any, analyst: Any, big_log: Path, settings: Any
) -> None:
    if not django_settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip(
            "needs CELERY_BROKER_URL=redis://... (CI runs it); the default broker is "
            "a folder, which cannot be restarted"
        )
    client = client_for(analyst)
    running = _wait_running(_submit_big_run(client, investigation, big_log))
    assert running.status == "running", "the run finished before Redis could be restarted"
    # A second run waits in Redis behind the first; a restart without saving loses its message.
    waiting = _submit_small_run(client, investigation)
    healthy = False
    try:
        _restart_redis()
        running, _ = _finish_or_reap(running, settings, timeout=180)
        # Never left running: finished, or failed saying why.
        assert running.status in ("succeeded", "failed"), running.status
        if running.status == "succeeded":
            assert running.records["ok"] == 999_992
            assert running.results.count() == 2
        else:
            assert running.error.strip(), "a failed run must say why"
        # Its message went with Redis unless the worker had already reserved it: a reserved
        # small run ends within a second or two of the big one, a lost one only through the
        # reaper. Waiting longer than that proves nothing more (it held every test process
        # for 30 s, since this test runs alone).
        waiting, _reaped = _finish_or_reap(waiting, settings, timeout=5)
        assert waiting.status == "succeeded", waiting.error
        # The same worker process is still there and takes new work from the new Redis.
        assert celery_worker_process.process.poll() is None, celery_worker_process.log()[-3000:]
        after = wait_for_run(_submit_small_run(client, investigation), timeout=120)
        assert after.status == "succeeded", after.error
        healthy = True
    finally:
        if not healthy:  # later tests need a worker on the restarted broker
            if celery_worker_process.process.poll() is None:
                celery_worker_process.kill()
            celery_worker_process.start()


# ------------------------------------------------------------------------------ scratch space


def _mount_tmpfs(path: Path, options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def _unmount(path: Path) -> None:
    if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


@contextmanager
def _unusable_work_dir() -> Iterator[str]:
    """Make the worker's WORK_DIR unwritable. Root ignores file modes, so a read-only tmpfs is
    mounted over it; where mounting is not allowed, the folder is swapped for a plain file."""
    work = Path(django_settings.WORK_DIR)
    mounted = _mount_tmpfs(work, "ro,size=1m")
    if mounted.returncode == 0:
        try:
            yield "read-only"
        finally:
            _unmount(work)
        return
    aside = work.with_name(f"{work.name}.aside-{uuid.uuid4().hex[:8]}")
    work.rename(aside)
    try:
        work.write_text("not a directory\n")
        yield "not a directory"
    finally:
        work.unlink(missing_ok=True)
        aside.rename(work)


def test_a_run_fails_clearly_when_its_scratch_folder_cannot_be_written(
    celery_worker_process: Any, investigation: Any, analyst: Any
) -> None:
    client = client_for(analyst)
    with _unusable_work_dir() as how:
        run = wait_for_run(_submit_small_run(client, investigation), timeout=120)
    assert run.status == "failed"
    assert run.error.startswith("Storage error"), run.error
    expected = "Read-only file system" if how == "read-only" else "Not a directory"
    assert expected in run.error, run.error
    assert run.finished_at is not None and not run.is_active
    # The page says so.
    page = client.get(run.get_absolute_url()).content.decode()
    assert "Storage error" in page
    # And the next run, with the folder back, works.
    after = wait_for_run(_submit_small_run(client, investigation), timeout=120)
    assert after.status == "succeeded", after.error


def test_a_storage_error_does_not_reveal_server_paths(
    celery_worker_process: Any, investigation: Any, analyst: Any
) -> None:
    with _unusable_work_dir():
        run = wait_for_run(_submit_small_run(client_for(analyst), investigation), timeout=120)
    assert run.status == "failed"
    assert str(django_settings.DATA_DIR) not in run.error, run.error


@pytest.fixture(scope="session")
def gzip_log(tmp_path_factory: Any) -> tuple[bytes, int]:
    """About 10 MB of flow records once decompressed, five times the scratch disk below."""
    from analysis.engine import FlowEngine

    path = tmp_path_factory.mktemp("gz") / "flows.log"
    generate(str(path), lines=100_000, seed=5)
    with FlowEngine() as engine:  # the expected count, from the plain file, no scratch limits
        ok = int(engine.load_files([str(path)]).to_dict()["ok"])
    return gzip.compress(path.read_bytes(), compresslevel=1), ok


def test_a_full_scratch_disk_does_not_stop_a_gzip_upload_loading(
    celery_worker_process: Any, investigation: Any, analyst: Any, gzip_log: tuple[bytes, int]
) -> None:
    """The fast loader reads gzip in place (DuckDB inflates it; the byte scan inflates it in
    memory), so a scratch disk far smaller than the unpacked log costs nothing: every record
    loads, on the fast path. (Unpacking into scratch, as the loader once did, filled it.)"""
    from django.core.files.uploadedfile import SimpleUploadedFile

    data, ok_records = gzip_log
    work = Path(django_settings.WORK_DIR)
    mounted = _mount_tmpfs(work, "size=2m")
    if mounted.returncode:
        pytest.skip(f"cannot mount a 2 MB tmpfs over WORK_DIR here: {mounted.stderr.strip()}")
    try:
        upload = SimpleUploadedFile("flows.log.gz", data, content_type="application/gzip")
        run = wait_for_run(
            _submit_small_run(client_for(analyst), investigation, upload), timeout=180
        )
    finally:
        _unmount(work)
    assert run.status == "succeeded", run.error
    assert run.records["ok"] == ok_records
    assert run.records["files"][0]["method"] == "fast"


# ------------------------------------------------------------------------- hostile file names

HOSTILE_NAMES = [
    b"../../etc/passwd",
    b"..\\..\\x",
    b"/etc/cron.d/evil",
    b"evil\x00.log",
    b"A" * 300 + b".log",
    b"<script>alert(1)</script>.log",
    b"&lt;img src=x onerror=alert(2)&gt;.log",  # Django unescapes entities in file names
]


def _multipart(
    fields: dict[str, str], file_field: str, names: list[bytes], content: bytes
) -> tuple[bytes, str]:
    """A multipart body written by hand: Django's test client would clean the names first."""
    boundary = f"hostile{uuid.uuid4().hex}".encode()
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(b"--" + boundary + b"\r\n")
        out.write(f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for filename in names:
        out.write(b"--" + boundary + b"\r\n")
        out.write(
            b'Content-Disposition: form-data; name="'
            + file_field.encode()
            + b'"; filename="'
            + filename
            + b'"\r\n'
        )
        out.write(b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n")
    out.write(b"--" + boundary + b"--\r\n")
    return out.getvalue(), f"multipart/form-data; boundary={boundary.decode()}"


def _data_dir_files() -> set[Path]:
    data = Path(django_settings.DATA_DIR)
    skip = {"broker", "work", "tmp", "flowcache", "staticfiles"}
    return {
        p
        for p in data.rglob("*")
        if p.is_file() and p.relative_to(data).parts[0] not in skip and "sqlite3" not in p.name
    }


def _assert_stored_safely(run: QueryRun, before: set[Path]) -> None:
    upload_dir = Path(django_settings.UPLOAD_DIR).resolve()
    uploads = list(run.uploads.order_by("pk"))
    assert len(uploads) == len(HOSTILE_NAMES)
    for upload in uploads:
        assert STORAGE_KEY.match(upload.storage_key), upload.storage_key
        path = Path(upload.path).resolve()
        assert path.parent == upload_dir
        assert path.read_bytes() == SAMPLE_TEXT.encode()
        assert len(upload.original_name) <= 255
        assert "/" not in upload.original_name and "\\" not in upload.original_name
        assert "\x00" not in upload.original_name
    new = _data_dir_files() - before
    assert new == {upload_dir / u.storage_key for u in uploads}, sorted(map(str, new))
    data = Path(django_settings.DATA_DIR)
    for escaped in (
        data / "etc",
        data.parent / "etc",
        upload_dir.parent / "x",
        upload_dir / ".." / "x",
    ):
        assert not escaped.exists(), escaped


def _assert_shown_escaped(html: str) -> None:
    # Django keeps what follows the last slash ("script>.log"); the <img> name survives whole.
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(2)&gt;.log" in html


def test_hostile_upload_names_on_the_page_are_stored_under_generated_names_and_escaped(
    celery_worker_process: Any, investigation: Any, analyst: Any
) -> None:
    client = client_for(analyst)
    before = _data_dir_files()
    body, content_type = _multipart(
        {"analyses": "traffic-summary", "top_n": "10", "rank_by": "flows"},
        "log_files",
        HOSTILE_NAMES,
        SAMPLE_TEXT.encode(),
    )
    response = client.generic(
        "POST", reverse("investigations:run_create", args=[investigation.pk]), body, content_type
    )
    assert response.status_code == 302, response.content[:1000]
    run = QueryRun.objects.get()
    _assert_stored_safely(run, before)
    _assert_shown_escaped(client.get(run.get_absolute_url()).content.decode())
    # The worker reads every file by its storage name; the finished page still escapes names.
    run = wait_for_run(run, timeout=120)
    assert run.status == "succeeded", run.error
    assert run.records["ok"] == 7 * len(HOSTILE_NAMES)
    assert len(run.data_read["files"]) == len(HOSTILE_NAMES)
    _assert_shown_escaped(client.get(run.get_absolute_url()).content.decode())


def test_hostile_upload_names_through_the_api_are_stored_under_generated_names(
    celery_worker_process: Any, investigation: Any, analyst: Any
) -> None:
    client = client_for(analyst)
    before = _data_dir_files()
    body, content_type = _multipart(
        {"investigation": str(investigation.pk), "analyses": "traffic-summary"},
        "files",
        HOSTILE_NAMES,
        SAMPLE_TEXT.encode(),
    )
    response = client.generic("POST", "/api/v1/runs/", body, content_type)
    assert response.status_code == 202, response.content[:1000]
    run = QueryRun.objects.get(pk=response.json()["id"])
    _assert_stored_safely(run, before)
    run = wait_for_run(run, timeout=120)
    assert run.status == "succeeded", run.error
    names = [f["name"] for f in client.get(f"/api/v1/runs/{run.pk}/").json()["data_read"]["files"]]
    assert all("/" not in n and "\\" not in n and "\x00" not in n for n in names), names


def test_submit_run_cleans_hostile_names_from_any_caller(
    celery_worker_process: Any, investigation: Any, analyst: Any
) -> None:
    before = _data_dir_files()
    files = [File(io.BytesIO(SAMPLE_TEXT.encode()), name=name.decode()) for name in HOSTILE_NAMES]
    run = submit_run(
        user=analyst, investigation=investigation, analyses=["traffic-summary"], files=files
    )
    _assert_stored_safely(run, before)
    run = wait_for_run(run, timeout=120)
    assert run.status == "succeeded", run.error


def test_scratch_folders_are_removed_after_each_run(
    celery_worker_process: Any, investigation: Any, analyst: Any
) -> None:
    run = wait_for_run(_submit_small_run(client_for(analyst), investigation), timeout=120)
    assert run.status == "succeeded", run.error
    assert not (Path(django_settings.WORK_DIR) / f"run-{run.pk}").exists()
