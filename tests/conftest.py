"""Shared fixtures: people in every role, a real Celery worker, Playwright on Debian chromium."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in the test thread; Django's ORM must be allowed there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# moto builds ~1,300 default AMIs for every region's EC2 back end it starts (0.3 s each, about
# 10 s of the account tests); the tests launch instances from an AMI id of their own.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

ROOT = Path(__file__).resolve().parent.parent
WORKER_READY_TIMEOUT = 90


@pytest.fixture(scope="session", autouse=True)
def _flush_by_delete(request: pytest.FixtureRequest) -> None:
    """Transactional tests empty every table after each test (Django's `flush`). On PostgreSQL
    that is one TRUNCATE of all 49 tables, which makes a new file for each: the flush took
    0.36 s a test on this box, with DELETE 0.15 s (most of it the content types and
    permissions post_migrate puts back). Django's foreign keys are DEFERRABLE INITIALLY
    DEFERRED and flush runs in one transaction, so the order does not matter; a flush that
    must reset sequences keeps Django's TRUNCATE."""
    if not request.config.pluginmanager.hasplugin("django"):  # `-p no:django`: engine tests
        return
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush

    def sql_flush(
        self: Any,
        style: Any,
        tables: list[str],
        *,
        reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:
        if reset_sequences or not tables:
            return truncate(
                self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        return ["SET CONSTRAINTS ALL DEFERRED;"] + [
            f"DELETE FROM {self.quote_name(table)};" for table in tables
        ]

    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _fresh_cache(request: pytest.FixtureRequest) -> Iterator[None]:
    """Throttle counters and other cached values never leak from one test into the next."""
    if not request.config.pluginmanager.hasplugin("django"):  # `-p no:django`: engine tests
        yield
        return
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _own_audit_checkpoints(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    """Each test keeps its audit checkpoints apart: never the data directory's real file."""
    if not request.config.pluginmanager.hasplugin("django"):
        yield
        return
    from django.conf import settings

    before = settings.AUDIT_CHECKPOINT_FILE
    settings.AUDIT_CHECKPOINT_FILE = tmp_path / "audit-checkpoints.jsonl"
    yield
    settings.AUDIT_CHECKPOINT_FILE = before


# Names under the reserved example domains resolve, in tests, to this public address (it is
# example.com's own); no test may ever open a connection to it (see `_loopback_only`).
EXAMPLE_PUBLIC_ADDRESS = "93.184.215.14"
RESERVED_SUFFIXES = (".example", ".example.com", ".example.org", ".example.net", ".test")


@pytest.fixture(autouse=True)
def _loopback_only(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Webhook targets under reserved names resolve without the internet, and outgoing webhook
    connections to anything but loopback fail the test before a packet is sent."""
    if not request.config.pluginmanager.hasplugin("django"):
        return
    import ipaddress

    from portal import outbound

    real_resolve = outbound.resolve

    def resolve(host: str, port: int) -> list[str]:
        if host.lower().endswith(RESERVED_SUFFIXES) or host.lower() in {"example.com"}:
            return [EXAMPLE_PUBLIC_ADDRESS]
        return real_resolve(host, port)

    real_open = outbound.open_connection

    def open_connection(address: str, port: int, timeout: float | None) -> Any:
        if not ipaddress.ip_address(address).is_loopback:
            raise AssertionError(f"a test tried to connect to {address}")
        return real_open(address, port, timeout)

    monkeypatch.setattr(outbound, "resolve", resolve)
    monkeypatch.setattr(outbound, "open_connection", open_connection)


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests make users by the hundred, and PBKDF2's million rounds cost a second or more each
    on a busy two-core machine: the suite hashes with MD5 (settings keep PBKDF2 everywhere
    else; the rehash-on-login test puts a PBKDF2 hasher first and still passes)."""
    if not request.config.pluginmanager.hasplugin("django"):
        yield
        return
    from django.test import override_settings

    fast = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    fast.enable()
    yield
    fast.disable()


@pytest.fixture(scope="session", autouse=True)
def _static_files_found_on_request(request: pytest.FixtureRequest) -> Iterator[None]:
    """WhiteNoise indexes every static file (stat, headers, dates) when its middleware starts,
    and each test client starts the middleware anew: about 50 ms a client, thousands of
    clients. In tests it looks a file up when one is asked for (its autorefresh mode), which
    serves the same files; production settings, and the deployment tests, keep the index."""
    if not request.config.pluginmanager.hasplugin("django"):
        yield
        return
    from django.test import override_settings

    lazy = override_settings(WHITENOISE_AUTOREFRESH=True)
    lazy.enable()
    yield
    lazy.disable()


# ------------------------------------------------------- services shared by parallel processes
# The test processes of a parallel run share one Redis (a database each) and one PostgreSQL
# server. A test that stops such a service (marked `exclusive`) must run alone: every other test
# holds the services lock shared, an exclusive test holds it alone. A gate taken first gives the
# exclusive test its turn: the other processes wait at their next test instead of starving it.


@pytest.fixture(autouse=True)
def _shared_services(request: pytest.FixtureRequest, tmp_path_factory: Any) -> Iterator[None]:
    import fcntl

    # Under xdist the base folder is one per process, its parent one per run.
    folder = tmp_path_factory.getbasetemp().parent
    exclusive = request.node.get_closest_marker("exclusive") is not None
    with (folder / "services.gate").open("a") as gate, (folder / "services.lock").open("a") as lock:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            if not exclusive:
                fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            if exclusive:
                fcntl.flock(gate, fcntl.LOCK_UN)


# ------------------------------------------------------------ the worker left idle after a test


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """A test that used the real worker leaves it idle before its fixtures are torn down:
    queued runs are cancelled and running ones stopped, so the database is never flushed under
    a worker that is still writing (PostgreSQL would deadlock on the TRUNCATE). A run that does
    not stop fails this test with the worker's log, and the worker is replaced, so the next
    tests get a worker that answers (instead of inheriting a stuck one). A transactional test
    that did not ask for the worker gets the same when this process has one running: a run it
    queued (a watch tick, say) is committed, and that worker takes it."""
    problem = None
    funcargs = getattr(item, "funcargs", {})
    worker = funcargs.get("celery_worker_process")
    if worker is None and _WORKERS and _transactional(item):
        worker = _WORKERS[-1]
    if worker is not None:
        problem = _stop_active_runs(worker)
    result = yield
    if problem:
        raise AssertionError(problem)
    return result


def _transactional(item: pytest.Item) -> bool:
    """Whether the test commits to the database (its changes are seen by other processes)."""
    marker = item.get_closest_marker("django_db")
    if marker is not None and (marker.kwargs.get("transaction") or marker.args[:1] == (True,)):
        return True
    names = getattr(item, "fixturenames", ())
    return "transactional_db" in names or "live_server" in names


def _stop_active_runs(worker: WorkerProcess) -> str | None:
    from investigations.choices import RunStatus
    from investigations.models import QueryRun

    QueryRun.objects.filter(status=RunStatus.QUEUED).update(status=RunStatus.CANCELLED)
    QueryRun.objects.filter(status=RunStatus.RUNNING).update(cancel_requested=True)
    deadline = time.monotonic() + 120
    while QueryRun.objects.filter(status=RunStatus.RUNNING).exists():
        if time.monotonic() > deadline:
            stuck = list(
                QueryRun.objects.filter(status=RunStatus.RUNNING).values_list("pk", "stage")
            )
            log = worker.log()[-6000:]
            worker.kill()
            QueryRun.objects.filter(status=RunStatus.RUNNING).update(
                status=RunStatus.FAILED, error="stopped by the test teardown"
            )
            worker.start()
            return (
                f"runs still running two minutes after their test ended: {stuck}; "
                f"the worker was replaced. Its log:\n{log}"
            )
        time.sleep(0.2)
    return None


@pytest.fixture
def analyst(db: Any) -> Any:
    from tests.factories import UserFactory

    return UserFactory(username="alice", role="analyst")


@pytest.fixture
def teammate(db: Any) -> Any:
    from tests.factories import UserFactory

    return UserFactory(username="bob", role="analyst")


@pytest.fixture
def outsider(db: Any) -> Any:
    from tests.factories import UserFactory

    return UserFactory(username="mallory", role="analyst")


@pytest.fixture
def manager(db: Any) -> Any:
    from tests.factories import UserFactory

    return UserFactory(username="maggie", role="manager")


@pytest.fixture
def admin_user(db: Any) -> Any:
    from tests.factories import UserFactory

    return UserFactory(username="root", role="admin")


@pytest.fixture
def investigation(analyst: Any, teammate: Any) -> Any:
    from tests.factories import InvestigationFactory

    inv = InvestigationFactory(owner=analyst, title="Web tier brute force")
    inv.members.add(teammate)
    return inv


def client_for(user: Any) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def api_token(user: Any, scopes: str, name: str) -> str:
    """An API key for `user`, made as integrations make one: with the management command."""
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command(
        "create_api_token", "--user", user.username, "--name", name, "--scopes", scopes, stdout=out
    )
    return out.getvalue().strip()


def _database_url(settings_dict: dict[str, Any]) -> str:
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    if engine.endswith("postgresql"):
        user = settings_dict.get("USER") or ""
        password = settings_dict.get("PASSWORD") or ""
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"
    raise RuntimeError(f"No worker support for database engine {engine}")


class WorkerProcess:
    """A real `celery worker` subprocess on the configured broker, against the test database,
    with every AWS client pointed at the session's local moto server."""

    def __init__(
        self, database_url: str, moto_url: str = "", rdap_url: str = "", name: str = "test"
    ) -> None:
        self.database_url = database_url
        self.name = name
        self.moto_url = moto_url
        self.rdap_url = rdap_url
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []
        self.ready = threading.Event()

    def start(self) -> None:
        self.ready.clear()
        self.output.append("---- worker start ----\n")
        env = os.environ.copy()
        env["DATABASE_URL"] = self.database_url
        env.setdefault("DEBUG", "true")
        # One run per AWS account at a time (the cap tests rely on it); waiting runs retry fast.
        env.update(RUN_MAX_PER_ACCOUNT="1", RUN_CAP_RETRY_SECONDS="1")
        # Test webhook receivers listen on loopback, which webhooks may reach only when allowed.
        env.setdefault("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1/32")
        # WHOIS goes to the session's fake RDAP service, never to the internet.
        env.update(RDAP_BASE_URL=self.rdap_url or "http://127.0.0.1:9", WHOIS_TIMEOUT_SECONDS="2")
        if self.moto_url:
            env.update(
                AWS_ENDPOINT_URL=self.moto_url,
                AWS_ACCESS_KEY_ID="testing",
                AWS_SECRET_ACCESS_KEY="testing",
                AWS_DEFAULT_REGION="us-east-1",
            )
            for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "PORTAL_AWS_PROFILE"):
                env.pop(name, None)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "--pool=solo",
                "--queues=analyse,download",
                "--loglevel=INFO",
                "--without-mingle",
                "--without-gossip",
                "-n",
                f"{self.name}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()
        if not self.ready.wait(WORKER_READY_TIMEOUT):
            self.stop()
            raise RuntimeError("Celery worker did not start:\n" + "".join(self.output[-50:]))

    def _pump(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if " ready." in line:
                self.ready.set()

    def kill(self) -> None:
        """SIGKILL, as an OOM killer or a lost machine would: no cleanup, no ack."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    @property
    def hostname_prefix(self) -> str:
        return f"{self.name}@"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def log(self) -> str:
        return "".join(self.output)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A local moto server for the whole session: the worker's AWS, never the internet."""
    from moto.server import ThreadedMotoServer

    # Port 0: the server binds a free port itself (probing for one first could lose it to
    # another process before the server binds it).
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


class FakeRdap:
    """An RDAP service on 127.0.0.1 answering for a few documentation addresses, 404 else."""

    RECORDS = {
        "185.220.101.7": ("Example Bulletproof Hosting", "185.220.101.0", "185.220.101.255"),
        "45.33.32.156": ("Example Research Network", "45.33.32.0", "45.33.32.255"),
    }

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests.append(self.path)
                ip = self.path.rsplit("/", 1)[-1]
                known = fake.RECORDS.get(ip)
                body = json.dumps(fake.record(ip, *known) if known else {"errorCode": 404})
                self.send_response(200 if known else 404)
                self.send_header("Content-Type", "application/rdap+json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def record(ip: str, org: str, start: str, end: str) -> dict[str, Any]:
        return {
            "objectClassName": "ip network",
            "handle": f"NET-{ip}",
            "startAddress": start,
            "endAddress": end,
            "ipVersion": "v4",
            "name": "EXAMPLE-NET",
            "country": "NL",
            "entities": [
                {
                    "objectClassName": "entity",
                    "handle": "ORG-EX",
                    "roles": ["registrant"],
                    "vcardArray": [
                        "vcard",
                        [["version", {}, "text", "4.0"], ["fn", {}, "text", org]],
                    ],
                }
            ],
        }


@pytest.fixture(scope="session")
def fake_rdap() -> Iterator[FakeRdap]:
    fake = FakeRdap()
    yield fake
    fake.server.shutdown()


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup: Any, django_db_blocker: Any, moto_endpoint: str, fake_rdap: FakeRdap
) -> Iterator[WorkerProcess]:
    from django.db import connection

    from portal.celery import app

    with django_db_blocker.unblock():
        url = _database_url(connection.settings_dict)
    app.control.purge()  # nothing left over from an earlier session may reach this worker
    worker = WorkerProcess(url, moto_endpoint, fake_rdap.url)
    worker.start()
    _WORKERS.append(worker)
    yield worker
    worker.stop()


# The session's worker of this process, for the log a failed wait shows.
_WORKERS: list[WorkerProcess] = []


def wait_for_run(run: Any, *, timeout: float = 120) -> Any:
    """Poll the database until the run leaves queued/running (the worker writes it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if not run.is_active:
            return run
        time.sleep(0.2)
    log = _WORKERS[-1].log()[-4000:] if _WORKERS else "(no worker started in this process)"
    raise AssertionError(f"Run {run.pk} still {run.status} after {timeout}s; worker log:\n{log}")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's chromium when installed, else Playwright's own (tests.browser_setup)."""
    from tests.browser_setup import LAUNCH_ARGS

    executable = _browser()
    return {
        **browser_type_launch_args,
        **({"executable_path": executable} if executable else {}),
        "args": list(LAUNCH_ARGS),
    }


# ---------------------------------------------------------------- a missing browser is loud
# `make test` installs a browser first (tests.browser_setup). Where none could be installed the
# browser tests are skipped with a loud summary line; under CI (CI=true) that skip fails the run.
_BROWSER: list[str | None] = []


def _browser() -> str | None:
    """The Chromium the browser tests launch (a path, "" for Playwright's own), None if none."""
    if not _BROWSER:
        from tests.browser_setup import browser_executable

        _BROWSER.append(browser_executable())
    return _BROWSER[0]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    browser_items = [item for item in items if item.get_closest_marker("browser")]
    if browser_items and _browser() is None:
        skip = pytest.mark.skip(reason="BROWSER TEST SKIPPED: no Chromium to drive")
        for item in browser_items:
            item.add_marker(skip)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Reports from xdist workers arrive here too, with the test's markers among the keywords.
    if report.skipped and "browser" in report.keywords:
        _SKIPPED_BROWSER_TESTS.append(report.nodeid)


_SKIPPED_BROWSER_TESTS: list[str] = []


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not _SKIPPED_BROWSER_TESTS:
        return
    count = len(set(_SKIPPED_BROWSER_TESTS))
    terminalreporter.section("browser tests", sep="!", red=True, bold=True)
    terminalreporter.line(
        f"{count} BROWSER TEST(S) SKIPPED: no Chromium could be found or installed. Run "
        "`make test` as root with apt-get (it installs Debian's chromium), or "
        "`.venv/bin/python -m playwright install --with-deps chromium`."
        + (" CI=true: the run FAILS." if _in_ci() else ""),
        red=True,
        bold=True,
    )


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller decides
        return
    if _in_ci() and _SKIPPED_BROWSER_TESTS and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
