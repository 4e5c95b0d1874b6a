"""Ids typed into links and forms: anything that is not a plain id a database can hold is
treated as "no id" (or refused by name), never a server error."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from investigations.ids import MAX_ID, parse_id
from tests.conftest import client_for

NOT_IDS = ["²", "١٢", "9" * 40, str(MAX_ID + 1), "-1", "1e3", "abc", " "]


@pytest.mark.parametrize(
    ("given", "expected"),
    [("12", 12), (" 7 ", 7), (str(MAX_ID), MAX_ID), (None, None), ("", None)]
    + [(bad, None) for bad in NOT_IDS],
)
def test_an_id_is_a_plain_number_a_database_can_hold(given: Any, expected: int | None) -> None:
    assert parse_id(given) == expected


@pytest.mark.django_db
@pytest.mark.parametrize("bad", NOT_IDS)
def test_pages_take_odd_ids_in_links_without_a_server_error(
    bad: str, analyst: Any, investigation: Any
) -> None:
    client = client_for(analyst)
    form = client.get(reverse("investigations:run_create", args=[investigation.pk]), {"from": bad})
    assert form.status_code == 200
    rules = client.get(
        reverse("investigations:suppressions", args=[investigation.pk]), {"finding": bad}
    )
    assert rules.status_code == 200
    triage = client.post(
        reverse("investigations:findings_triage", args=[investigation.pk]),
        {"finding": [bad], "status": "closed"},
    )
    # Refused with the page's own message, back on the investigation.
    assert triage.status_code == 302
    page = client.get(triage["Location"])
    assert "Some selected findings are not in this investigation." in page.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["²", "9" * 40])
def test_api_id_filters_name_the_parameter_they_refuse(
    bad: str, analyst: Any, investigation: Any
) -> None:
    client = client_for(analyst)
    for path, name in [
        ("/api/v1/findings/", "investigation"),
        ("/api/v1/findings/", "run"),
        ("/api/v1/suppression-rules/", "investigation"),
        ("/api/v1/watches/", "investigation"),
        ("/api/v1/watch-alerts/", "watch"),
    ]:
        response = client.get(path, {name: bad})
        assert response.status_code == 400, (path, name, response.content[:300])
        assert name in response.json(), (path, response.json())
