"""Reference tables: versioned uploads rejected whole with the bad line named, used by runs
which record the exact version."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from investigations.models import QueryRun, ReferenceTable, ReferenceTableVersion
from portal.models import AuditEvent
from tests.conftest import client_for, wait_for_run
from tests.flowlogs import sample_upload

LOOKUP = b"dstport,protocol,tag\n22,tcp,Remote admin\n3389,TCP,Remote admin\n53,udp,DNS\n"
CIDRS = json.dumps(
    {
        "prefixes": [
            {"ip_prefix": "203.0.113.0/24", "region": "eu-west-1", "service": "EC2"},
            {"ip_prefix": "198.51.100.0/24", "region": "us-east-1", "service": "S3"},
        ],
        "ipv6_prefixes": [
            {"ipv6_prefix": "2001:db8::/32", "region": "us-east-1", "service": "EC2"}
        ],
    }
).encode()


def _upload(client: Any, kind: str, name: str, data: bytes, filename: str = "t.csv") -> Any:
    return client.post(
        reverse("investigations:reference_list"),
        {"kind": kind, "name": name, "file": SimpleUploadedFile(filename, data)},
    )


@pytest.mark.django_db
def test_an_analyst_uploads_versions_and_previews_them(analyst: Any) -> None:
    client = client_for(analyst)
    response = _upload(client, "lookup", "Ports", LOOKUP)
    table = ReferenceTable.objects.get(name="Ports")
    assert response["Location"] == table.get_absolute_url()
    _upload(client, "lookup", "Ports", LOOKUP + b"443,tcp,Web\n")
    assert list(table.versions.values_list("number", "row_count")) == [(2, 4), (1, 3)]
    page = client.get(table.get_absolute_url()).content.decode()
    assert "Preview of v2" in page and "Remote admin" in page and "Web" in page
    assert AuditEvent.objects.filter(action="reference_table.version_uploaded").count() == 2


@pytest.mark.django_db
def test_a_bad_row_rejects_the_whole_file_naming_the_line(analyst: Any) -> None:
    bad = b"dstport,protocol,tag\n22,tcp,SSH\n99999,tcp,Nope\n53,udp,DNS\n"
    response = _upload(client_for(analyst), "lookup", "Ports", bad)
    assert response.status_code == 400
    assert "Line 3" in response.content.decode()
    assert "Nothing was imported" in response.content.decode()
    assert not ReferenceTableVersion.objects.exists()


@pytest.mark.django_db
def test_cidr_tables_are_detected_and_kinds_cannot_be_mixed(analyst: Any) -> None:
    client = client_for(analyst)
    _upload(client, "cidr", "AWS ranges", CIDRS, "ip-ranges.json")
    version = ReferenceTableVersion.objects.get()
    assert (version.file_format, version.row_count) == ("aws-ip-ranges", 3)
    mixed = _upload(client, "lookup", "AWS ranges", LOOKUP)
    assert mixed.status_code == 400 and "is a cidr table" in mixed.content.decode().lower()


@pytest.mark.django_db
def test_managers_read_but_do_not_upload(manager: Any, analyst: Any) -> None:
    _upload(client_for(analyst), "lookup", "Ports", LOOKUP)
    client = client_for(manager)
    assert client.get(reverse("investigations:reference_list")).status_code == 200
    assert _upload(client, "lookup", "Ports", LOOKUP).status_code == 403
    api = client.get("/api/v1/reference-tables/").json()
    assert api["results"][0]["latest"]["row_count"] == 3


@pytest.mark.django_db
def test_the_api_uploads_and_reports_bad_lines(analyst: Any) -> None:
    client = client_for(analyst)
    ok = client.post(
        "/api/v1/reference-tables/",
        {
            "kind": "known_hosts",
            "name": "Hosts",
            "file": SimpleUploadedFile("hosts.csv", b"ip,alias\n10.0.1.10,web-1\n"),
        },
    )
    assert ok.status_code == 201 and ok.json()["row_count"] == 1
    bad = client.post(
        "/api/v1/reference-tables/",
        {
            "kind": "known_hosts",
            "name": "Hosts",
            "file": SimpleUploadedFile("hosts.csv", b"ip,alias\nnot-an-ip,web-1\n"),
        },
    )
    assert bad.status_code == 400 and "Line 2" in bad.json()["file"][0]


@pytest.mark.django_db
def test_tag_mapping_without_a_lookup_table_is_refused(investigation: Any, analyst: Any) -> None:
    response = client_for(analyst).post(
        reverse("investigations:run_create", args=[investigation.pk]),
        {
            "log_files": sample_upload(),
            "analyses": ["tag-mapping"],
            "top_n": 10,
            "rank_by": "flows",
        },
    )
    assert response.status_code == 400
    assert "tag-mapping" in response.content.decode()
    assert not QueryRun.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_run_uses_the_tables_and_records_their_versions(
    celery_worker_process: Any, investigation: Any, analyst: Any
) -> None:
    client = client_for(analyst)
    _upload(client, "lookup", "Ports", LOOKUP)
    _upload(client, "cidr", "AWS ranges", CIDRS, "ip-ranges.json")
    lookup = ReferenceTable.objects.get(name="Ports")
    cidrs = ReferenceTable.objects.get(name="AWS ranges")
    client.post(
        reverse("investigations:run_create", args=[investigation.pk]),
        {
            "log_files": sample_upload(),
            "analyses": ["tag-mapping", "cidr-connections"],
            "lookup_table": lookup.pk,
            "cidr_tables": [cidrs.pk],
            "target_ips": "10.0.1.10",
            "top_n": 50,
            "rank_by": "flows",
        },
    )
    run = wait_for_run(QueryRun.objects.get())
    assert run.status == "succeeded", run.error
    assert set(run.reference_versions.values_list("table__name", "number")) == {
        ("Ports", 1),
        ("AWS ranges", 1),
    }
    assert "lookup_table" not in run.parameters  # linked, not copied
    tags = {
        r["tag"]: r["count"]
        for r in run.results.get(analysis="tag-mapping").rows.values_list("data", flat=True)
    }
    assert tags["Remote admin"] == 4  # the four SSH records of the sample
    assert tags["DNS"] == 1
    peers = {
        r["ip"]
        for r in run.results.get(analysis="cidr-connections").rows.values_list("data", flat=True)
    }
    assert peers == {"203.0.113.50", "198.51.100.7"}
    # A new version later does not change what this run used.
    _upload(client, "lookup", "Ports", LOOKUP + b"443,tcp,Web\n")
    assert run.reference_versions.get(table__name="Ports").number == 1
    page = client.get(lookup.get_absolute_url()).content.decode()
    assert f"Run #{run.pk}" in page
