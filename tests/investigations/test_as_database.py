"""The AS database: an admin uploads iptoasn.com's ip2asn (or GeoLite2-ASN CSV) as a reference
table, and every run's geo view, its API, the address labels and the entity page then give AS
number, organisation and country from it, naming the data and its date."""

from __future__ import annotations

import gzip
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from investigations.models import QueryRun, ReferenceTable, ReferenceTableVersion
from tests.conftest import api_token, client_for, wait_for_run
from tests.flowlogs import SAMPLE_TEXT

# Organisation names and countries the shipped data does not have, so the page can only show
# them from the upload.
IP2ASN = (
    "1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARE-FROM-UPLOAD\n"
    "1.0.1.0\t1.0.3.255\t0\tNone\tNot routed\n"
    "8.8.4.0\t8.8.4.255\t15169\tUS\tGOOGLE-FROM-UPLOAD\n"
    "9.9.9.0\t9.9.9.255\t19281\tCH\tQUAD9-FROM-UPLOAD\n"
    "2001:4860::\t2001:4860:ffff:ffff:ffff:ffff:ffff:ffff\t15169\tUS\tGOOGLE-FROM-UPLOAD\n"
)
PEERS = {"8.8.4.4": 22, "1.0.0.1": 22, "9.9.9.9": 443, "1.0.2.7": 443}
EXTRA = "\n".join(
    f"2 123456789012 eni-0a1 {ip} 10.0.1.10 40000 {port} 6 5 300 1763900010 1763900070 REJECT OK"
    for ip, port in PEERS.items()
)


def _upload(client: Any, data: bytes, name: str = "AS numbers", filename: str = "x.tsv") -> Any:
    return client.post(
        reverse("investigations:reference_list"),
        {"kind": "as_database", "name": name, "file": SimpleUploadedFile(filename, data)},
    )


def _token(user: Any) -> str:
    return api_token(user, "read:investigations", "siem")


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_an_uploaded_ip2asn_file_gives_as_numbers_on_the_geo_view_and_api(
    celery_worker_process: Any, fake_rdap: Any, investigation: Any, analyst: Any, admin_user: Any
) -> None:
    response = _upload(
        client_for(admin_user), gzip.compress(IP2ASN.encode()), filename="ip2asn-v4.tsv.gz"
    )
    table = ReferenceTable.objects.get(name="AS numbers")
    assert response["Location"] == table.get_absolute_url()
    version = table.versions.get()
    assert (version.file_format, version.row_count) == ("ip2asn", 4)  # AS 0 left out

    client = client_for(analyst)
    client.post(
        reverse("investigations:run_create", args=[investigation.pk]),
        {
            "log_files": SimpleUploadedFile("vpc.log", (SAMPLE_TEXT + EXTRA + "\n").encode()),
            "analyses": ["geo", "external-inbound"],
            "target_ips": "10.0.1.10",
            "vpc_cidrs": "10.0.0.0/16",
            "top_n": 10,
            "rank_by": "flows",
        },
    )
    run = wait_for_run(QueryRun.objects.order_by("-pk").first())
    assert run.status == "succeeded", run.error

    placed = {
        row["ip"]: (row["asn"], row["as_org"], row["country"])
        for row in run.results.get(analysis="geo:addresses").rows.values_list("data", flat=True)
    }
    assert placed["8.8.4.4"] == (15169, "GOOGLE-FROM-UPLOAD", "US")
    assert placed["1.0.0.1"] == (13335, "CLOUDFLARE-FROM-UPLOAD", "US")
    assert placed["9.9.9.9"] == (19281, "QUAD9-FROM-UPLOAD", "CH")
    # Not routed in the upload: the shipped data places it, without an AS number.
    assert placed["1.0.2.7"][0] is None
    summary = run.results.get(analysis="geo").summary
    assert summary["as_source"]["name"] == "iptoasn.com ip2asn"
    assert "PDDL" in summary["as_source"]["licence"]

    page = client.get(reverse("investigations:run_geo", args=[run.pk]), {"by": "as"})
    text = page.content.decode()
    assert "AS15169" in text and "GOOGLE-FROM-UPLOAD" in text and "AS19281" in text
    assert "iptoasn.com ip2asn (uploaded AS database), data of " in text
    assert summary["as_source"]["date"] in text

    # The address labels beside the results name it too.
    notes = run.results.get(analysis="external-inbound").annotations
    assert (notes["9.9.9.9"]["asn"], notes["9.9.9.9"]["country"]) == (19281, "CH")
    detail = client.get(reverse("investigations:run_detail", args=[run.pk])).content.decode()
    assert "iptoasn.com ip2asn (" in detail

    api = Client(HTTP_AUTHORIZATION=f"Bearer {_token(analyst)}")
    body = api.get(f"/api/v1/runs/{run.pk}/results/geo:addresses/").json()
    rows = {row["ip"]: row for row in body["rows"]}
    assert (rows["8.8.4.4"]["asn"], rows["8.8.4.4"]["as_org"]) == (15169, "GOOGLE-FROM-UPLOAD")

    entity = client.get(reverse("entity_detail", args=["9.9.9.9"])).content.decode()
    assert "AS19281 QUAD9-FROM-UPLOAD" in entity and "iptoasn.com ip2asn" in entity


@pytest.mark.django_db
def test_a_malformed_line_rejects_the_file_naming_the_line(admin_user: Any) -> None:
    bad = IP2ASN + "8.8.8.0\t8.8.8.255\tAS-GOOGLE\tUS\tGOOGLE\n"
    response = _upload(client_for(admin_user), bad.encode())
    assert response.status_code == 400
    text = response.content.decode()
    assert "Line 6: AS number must be a number" in text and "Nothing was imported" in text
    short = _upload(client_for(admin_user), b"1.0.0.0\t1.0.0.255\t13335\tUS\n")
    assert "Line 1: expected 5 tab-separated fields" in short.content.decode()
    assert not ReferenceTableVersion.objects.exists()


@pytest.mark.django_db
def test_a_geolite2_asn_csv_is_read_too(admin_user: Any) -> None:
    csv = (
        b"network,autonomous_system_number,autonomous_system_organization\n"
        b"1.0.0.0/24,13335,CLOUDFLARENET\n8.8.4.0/24,15169,GOOGLE\n"
    )
    _upload(client_for(admin_user), csv, filename="GeoLite2-ASN-Blocks-IPv4.csv")
    version = ReferenceTableVersion.objects.get()
    assert (version.file_format, version.row_count) == ("geolite2-asn-csv", 2)
    page = client_for(admin_user).get(version.table.get_absolute_url()).content.decode()
    assert "MaxMind GeoLite2 ASN (CSV)" in page and "8.8.4.0-8.8.4.255" in page


@pytest.mark.django_db
def test_only_admins_upload_the_one_as_database(analyst: Any, admin_user: Any) -> None:
    assert _upload(client_for(analyst), IP2ASN.encode()).status_code == 403
    assert not ReferenceTable.objects.exists()
    _upload(client_for(admin_user), IP2ASN.encode())
    second = _upload(client_for(admin_user), IP2ASN.encode(), name="Another")
    assert "There is one AS database, “AS numbers”" in second.content.decode()
    assert list(ReferenceTable.objects.values_list("name", flat=True)) == ["AS numbers"]
