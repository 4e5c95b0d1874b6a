"""Reference tables have an owner: new versions come from the owner or an admin (or anyone,
once the owner shares the table for editing); each version names its author; a run shows when
a table it used changed afterwards."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile

from investigations.models import QueryRun, ReferenceTable
from investigations.reference import upload_reference_version
from portal.models import AuditEvent
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def _upload(user: Any, content: bytes, name: str = "Known hosts") -> Any:
    return upload_reference_version(
        user=user, kind="known_hosts", name=name, upload=SimpleUploadedFile("hosts.csv", content)
    )


def _api_upload(user: Any, content: bytes, name: str = "Known hosts") -> Any:
    return client_for(user).post(
        "/api/v1/reference-tables/",
        {"kind": "known_hosts", "name": name, "file": SimpleUploadedFile("hosts.csv", content)},
    )


def test_an_analyst_cannot_publish_a_version_of_a_table_an_admin_made(
    admin_user: Any,
    analyst: Any,
) -> None:
    table = _upload(admin_user, b"ip,alias\n10.0.1.10,web-1\n").table
    with pytest.raises(PermissionDenied, match="belongs to root"):
        _upload(analyst, b"ip,alias\n10.0.1.10,attacker-renamed\n")
    response = _api_upload(analyst, b"ip,alias\n10.0.1.10,attacker-renamed\n")
    assert response.status_code == 403
    page = client_for(analyst).post(
        "/investigations/reference/",
        {
            "kind": "known_hosts",
            "name": "Known hosts",
            "file": SimpleUploadedFile("hosts.csv", b"ip,alias\n10.0.1.10,x\n"),
        },
    )
    assert page.status_code == 403
    assert table.versions.count() == 1
    assert table.latest is not None and table.latest.data == {"10.0.1.10": "web-1"}


def test_the_owner_and_admins_publish_versions(analyst: Any, admin_user: Any) -> None:
    _upload(analyst, b"ip,alias\n10.0.1.10,web-1\n")
    assert _api_upload(analyst, b"ip,alias\n10.0.1.10,web-2\n").status_code == 201
    assert _api_upload(admin_user, b"ip,alias\n10.0.1.10,web-3\n").status_code == 201
    versions = (
        client_for(analyst)
        .get(f"/api/v1/reference-tables/{ReferenceTable.objects.get().pk}/versions/")
        .json()
    )
    assert sorted((v["number"], v["uploaded_by"]) for v in versions) == [
        (1, "alice"),
        (2, "alice"),
        (3, "root"),
    ]


def test_the_owner_shares_the_table_for_editing(analyst: Any, teammate: Any, manager: Any) -> None:
    table = _upload(analyst, b"ip,alias\n10.0.1.10,web-1\n").table
    url = f"/api/v1/reference-tables/{table.pk}/"
    refused = client_for(teammate).patch(
        url, {"shared_editable": True}, content_type="application/json"
    )
    assert refused.status_code == 403
    shared = client_for(analyst).patch(
        url, {"shared_editable": True}, content_type="application/json"
    )
    assert shared.status_code == 200
    assert shared.json()["shared_editable"] is True and shared.json()["owner"] == "alice"
    assert AuditEvent.objects.filter(action="reference_table.sharing_changed").count() == 1
    version = _upload(teammate, b"ip,alias\n10.0.1.10,web-2\n")
    assert (version.number, version.uploaded_by) == (2, teammate)
    # Managers read reference tables and never publish, shared or not.
    assert _api_upload(manager, b"ip,alias\n10.0.1.10,web-3\n").status_code == 403
    # Taking it back from the page.
    back = client_for(analyst).post(f"/investigations/reference/{table.pk}/sharing/", {})
    assert back.status_code == 302
    with pytest.raises(PermissionDenied):
        _upload(teammate, b"ip,alias\n10.0.1.10,web-4\n")


def test_a_run_shows_that_a_table_it_used_changed_afterwards(
    analyst: Any,
    investigation: Any,
) -> None:
    first = _upload(analyst, b"ip,alias\n10.0.1.10,web-1\n")
    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=analyst,
        analyses=["traffic-summary"],
        status="succeeded",
    )
    run.reference_versions.add(first)
    client = client_for(analyst)
    before = client.get(f"/api/v1/runs/{run.pk}/").json()["reference_tables"]
    assert before == [
        {
            "table": first.table_id,
            "name": "Known hosts",
            "version": 1,
            "latest_version": 1,
            "changed_since": False,
        }
    ]
    assert "has changed since this run" not in client.get(run.get_absolute_url()).content.decode()
    _upload(analyst, b"ip,alias\n10.0.1.10,web-renamed\n")
    after = client.get(f"/api/v1/runs/{run.pk}/").json()["reference_tables"]
    assert after[0]["changed_since"] is True and after[0]["latest_version"] == 2
    page = client.get(run.get_absolute_url()).content.decode()
    assert "“Known hosts” has changed since this run: it used v1, the table is now at v2" in page
