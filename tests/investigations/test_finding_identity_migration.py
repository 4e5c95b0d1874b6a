"""Migration investigations 0007 gives existing findings their identity and one sighting each;
old duplicates (one identity raised by several runs) are kept, the newest holding the identity."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from investigations.models import Finding, FindingSighting

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("investigations", "0006_reference_table_shared_editable")
AFTER = ("investigations", "0007_finding_identity")


def _migrate(target: tuple[str, str]) -> Any:
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    executor.loader.build_graph()
    return executor.loader.project_state([target]).apps


@pytest.fixture
def latest_schema_after() -> Iterator[None]:
    yield
    call_command("migrate", verbosity=0)


def test_old_findings_get_identities_and_duplicates_stay_distinct(
    analyst: Any, latest_schema_after: None
) -> None:
    apps = _migrate(BEFORE)
    Investigation = apps.get_model("investigations", "Investigation")
    QueryRun = apps.get_model("investigations", "QueryRun")
    Legacy = apps.get_model("investigations", "Finding")
    investigation = Investigation.objects.create(owner_id=analyst.pk, title="old case")
    other = Investigation.objects.create(owner_id=analyst.pk, title="another case")
    first, second = (
        QueryRun.objects.create(investigation=investigation, requested_by_id=analyst.pk)
        for _ in range(2)
    )
    elsewhere = QueryRun.objects.create(investigation=other, requested_by_id=analyst.pk)
    scan = {
        "peer": "198.51.100.23",
        "targets": ["10.0.0.5"],
        "target_count": 1,
        "detection_id": "port-scan",
    }

    def legacy(run: Any, evidence: dict[str, Any], **fields: Any) -> Any:
        values = {"type": "Recon:EC2/Portscan", "severity": 5, "title": "scan"}
        values.update(fields)
        return Legacy.objects.create(
            investigation_id=run.investigation_id, run=run, evidence=evidence, **values
        )

    old = legacy(first, scan, status="resolved", triage_comment="fixed the firewall")
    new = legacy(second, scan, severity=6)
    same_elsewhere = legacy(elsewhere, scan)
    campaign = legacy(
        second,
        {
            "peer": "192.0.2.1",
            "actors": ["192.0.2.1", "192.0.2.2"],
            "targets": ["10.0.0.9"],
            "target_count": 1,
            "campaign": True,
        },
        type="UnauthorizedAccess:EC2/SSHBruteForce",
    )
    no_detection = legacy(first, {"peer": "203.0.113.7", "targets": ["10.0.0.1", "10.0.0.2"]})

    _migrate(AFTER)
    call_command("migrate", verbosity=0)  # and whatever came after it
    found = Finding.objects.in_bulk(
        [old.pk, new.pk, same_elsewhere.pk, campaign.pk, no_detection.pk]
    )
    assert found[new.pk].identity == "port-scan|198.51.100.23|10.0.0.5"
    assert found[old.pk].identity == f"port-scan|198.51.100.23|10.0.0.5#legacy-{old.pk}"
    assert (found[old.pk].status, found[old.pk].triage_comment) == (
        "resolved",
        "fixed the firewall",
    )
    assert found[same_elsewhere.pk].identity == "port-scan|198.51.100.23|10.0.0.5"
    assert found[campaign.pk].identity == "UnauthorizedAccess:EC2/SSHBruteForce|campaign|10.0.0.9"
    assert found[no_detection.pk].identity == "Recon:EC2/Portscan|203.0.113.7|"
    for finding in found.values():
        assert (finding.last_run_id, finding.sighting_count) == (finding.run_id, 1)
        sighting = FindingSighting.objects.get(finding=finding)
        assert (sighting.run_id, sighting.severity, sighting.previous_severity) == (
            finding.run_id,
            finding.severity,
            None,
        )
