"""A client generated from the portal's own OpenAPI schema (openapi-python-client, offline)
drives the API end to end on a live server with a real Celery worker: an investigation, an
upload, the run polled to its end, its results and the findings feed."""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import api_token
from tests.flowlogs import T0

PACKAGE = "flowportal_client"
SCANNER, TARGET = "203.0.113.66", "10.0.1.10"
# A port scan (40 refused ports in a minute, one answered) and some ordinary traffic.
LINES = [
    f"2 123456789012 eni-0a1 {SCANNER} {TARGET} 41000 {port} 6 1 60 {T0 + i} {T0 + i + 1} "
    f"{'ACCEPT' if port == 8080 else 'REJECT'} OK"
    for i, port in enumerate([*range(1000, 1040), 8080])
] + [
    f"2 123456789012 eni-0a1 198.51.100.7 {TARGET} 40000 443 6 20 9000 {T0} {T0 + 60} ACCEPT OK",
    f"2 123456789012 eni-0a1 {TARGET} 198.51.100.7 443 40000 6 18 24000 {T0} {T0 + 60} ACCEPT OK",
]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """Generate the client from the schema the portal serves, import it as a package."""
    from drf_spectacular.generators import SchemaGenerator

    folder = tmp_path_factory.mktemp("client")
    schema = folder / "schema.json"
    schema.write_text(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))
    config = folder / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter needed to import it
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("openapi-python-client")),
            "generate",
            "--path",
            str(schema),
            "--meta",
            "none",
            "--output-path",
            str(folder / PACKAGE),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Anything the generator had to leave out of the client would be a schema defect.
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _api(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def _models() -> Any:
    return importlib.import_module(f"{PACKAGE}.models")


def _token(user: Any) -> str:
    scopes = "read:investigations,write:investigations,write:runs,read:findings"
    return api_token(user, scopes, "generated-client")


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_generated_client_creates_uploads_polls_and_reads_findings(
    generated: ModuleType, live_server: Any, celery_worker_process: Any, analyst: Any
) -> None:
    from investigations.models import QueryRun

    models = _models()
    types = importlib.import_module(f"{PACKAGE}.types")
    client = generated.AuthenticatedClient(
        base_url=live_server.url,
        token=_token(analyst),
        raise_on_unexpected_status=True,
        timeout=30.0,
    )

    created = _api("investigations.investigations_create").sync(
        client=client,
        body=models.InvestigationRequest(title="Scan on the web host", tags=["generated"]),
    )
    assert isinstance(created, models.Investigation)
    assert created.title == "Scan on the web host" and created.tags == ["generated"]

    upload = types.File(
        payload=io.BytesIO(("\n".join(LINES) + "\n").encode()),
        file_name="scan.log",
        mime_type="text/plain",
    )
    run = _api("runs.runs_create").sync(
        client=client,
        body=models.QueryRunCreateRequest(
            investigation=created.id, analyses=["traffic-summary", "detections"], files=[upload]
        ),
    )
    assert isinstance(run, models.QueryRun), run
    assert run.status == models.RunStatusEnum.QUEUED

    retrieve = _api("runs.runs_retrieve")
    deadline = time.monotonic() + 120
    while run.status in (models.RunStatusEnum.QUEUED, models.RunStatusEnum.RUNNING):
        assert time.monotonic() < deadline, f"run still {run.status}"
        time.sleep(0.5)
        run = retrieve.sync(client=client, id=run.id)
    assert run.status == models.RunStatusEnum.SUCCEEDED, run.error
    assert QueryRun.objects.get(pk=run.id).status == "succeeded"
    assert [r.analysis for r in run.results] == ["traffic-summary", "detections"]

    summaries = _api("runs.runs_results_list").sync(client=client, id=run.id)
    assert [s.analysis for s in summaries] == ["traffic-summary", "detections"]
    page = _api("runs.runs_result_rows").sync(
        client=client, run_pk=run.id, analysis="traffic-summary"
    )
    assert isinstance(page, models.ResultPage)
    assert page.row_count >= 1 and page.rows and page.columns

    feed = _api("findings.findings_changes_retrieve").sync(client=client, cursor="0.0")
    assert isinstance(feed, models.FindingChangePage)
    scans = [f for f in feed.results if f.type_ == "Recon:EC2/Portscan"]
    assert len(scans) == 1, [f.type_ for f in feed.results]
    assert scans[0].investigation == created.id and SCANNER in scans[0].title
    again = _api("findings.findings_changes_retrieve").sync(client=client, cursor=feed.next_cursor)
    assert again.results == [] and again.has_more is False

    listed = _api("findings.findings_list").sync(client=client, investigation=created.id)
    assert {f.id for f in listed.results} == {f.id for f in feed.results}
