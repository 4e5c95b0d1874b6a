"""Property-based API testing (schemathesis) over the portal's own OpenAPI schema: whatever a
client sends, the API answers without a server error."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
import schemathesis
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from portal.wsgi import application

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = application


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Any:
    """The WSGI handler closes the database connection after each request; inside a test
    transaction it must not (Django's own test client does the same)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(investigation: Any, analyst: Any) -> dict[str, str]:
    from investigations.models import Finding, FindingSighting, QueryRun, ResultRow, RunResult

    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=analyst,
        analyses=["ssh-inbound"],
        status="succeeded",
    )
    result = RunResult.objects.create(
        run=run,
        analysis="ssh-inbound",
        title="SSH inbound",
        columns=["srcaddr", "flows"],
        row_count=1,
        total_groups=1,
    )
    ResultRow.objects.create(result=result, position=0, data={"srcaddr": "10.0.0.1", "flows": 3})
    finding = Finding.objects.create(
        investigation=investigation,
        run=run,
        identity="port-scan|198.51.100.23|",
        last_run=run,
        type="Recon:EC2/Portscan",
        severity=5,
        title="scan",
        evidence={"peer": "198.51.100.23", "flows": 40, "bytes": 2400},
        change_number=1,
    )
    FindingSighting.objects.create(
        finding=finding, run=run, severity=5, title="scan", evidence=finding.evidence
    )
    out = StringIO()
    call_command(
        "create_api_token",
        "--user",
        analyst.username,
        "--name",
        "fuzz",
        "--scopes",
        "read:investigations,read:findings,write:runs,write:investigations",
        stdout=out,
    )
    return {"Authorization": f"Bearer {out.getvalue().strip()}"}


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_api_never_answers_with_a_server_error(case: Any, bearer: dict[str, str]) -> None:
    case.call_and_validate(headers=bearer, checks=[not_a_server_error])
