"""The new-run form: time window pickers and presets, sensitive ports and detection thresholds,
and the same settings through the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse

from analysis.analyzers import AnalysisParams
from analysis.analyzers.params import DEFAULT_SENSITIVE_PORTS, DEFAULT_THRESHOLDS
from investigations.forms import RunForm, parse_port_list
from investigations.models import QueryRun
from tests.conftest import client_for
from tests.flowlogs import sample_upload

pytestmark = pytest.mark.django_db


def _post(client: Any, investigation: Any, **overrides: Any) -> Any:
    data = {
        "log_files": sample_upload(),
        "analyses": ["sensitive-ports", "detections"],
        "top_n": 100,
        "rank_by": "flows",
    }
    data.update(overrides)
    return client.post(reverse("investigations:run_create", args=[investigation.pk]), data)


def _form_page(client: Any, investigation: Any, query: str = "") -> str:
    url = reverse("investigations:run_create", args=[investigation.pk])
    return str(client.get(url + query).content.decode())


def test_the_form_offers_calendar_pickers_presets_and_a_no_script_fallback(
    investigation: Any,
    analyst: Any,
) -> None:
    page = _form_page(client_for(analyst), investigation)
    for name in ("start_time", "end_time"):
        widget = re.search(rf'<input type="datetime-local" name="{name}"[^>]*>', page)
        assert widget is not None and 'step="1"' in widget.group(0)
        assert f'aria-describedby="id_{name}_helptext"' in widget.group(0)
        assert f'id="id_{name}_helptext"' in page
    for preset in ("1h", "24h", "7d", "30d"):
        assert f'data-window="{preset}"' in page  # buttons, shown by run-form.js
        assert f'<option value="{preset}">' in page  # the select works without it
    assert "js/run-form.js" in page
    assert "<script" not in page.split("<title>")[1].split("</title>")[0]
    assert "Detection settings" in page and 'name="sensitive_ports"' in page
    assert "22=ssh\n23=telnet" in page
    assert 'name="threshold_portscan_min_ports" value="25"' in page


def test_picked_times_are_utc_and_a_relative_window_ends_now(
    investigation: Any, analyst: Any
) -> None:
    client = client_for(analyst)
    assert (
        _post(
            client, investigation, start_time="2026-11-20T10:00", end_time="2026-11-20T12:30:15"
        ).status_code
        == 302
    )
    run = QueryRun.objects.get()
    assert run.window_start == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert run.window_end == datetime(2026, 11, 20, 12, 30, 15, tzinfo=UTC)
    before = datetime.now(UTC).replace(microsecond=0)
    assert _post(client, investigation, relative_window="7d").status_code == 302
    run = QueryRun.objects.order_by("-pk").first()
    assert run is not None and run.window_end is not None and run.window_start is not None
    assert before <= run.window_end <= datetime.now(UTC)
    assert run.window_end - run.window_start == timedelta(days=7)


def test_a_relative_window_and_dates_together_are_refused_next_to_the_field(
    investigation: Any,
    analyst: Any,
) -> None:
    response = _post(
        client_for(analyst), investigation, relative_window="24h", start_time="2026-11-20T10:00"
    )
    assert response.status_code == 400
    body = response.content.decode()
    field = body[body.index('data-field="relative_window"') :]
    assert (
        "Choose a relative window or a start and end time, not both."
        in field.split('data-field="start_time"')[0]
    )
    assert not QueryRun.objects.exists()


def test_sensitive_ports_and_thresholds_reach_the_run_parameters(
    investigation: Any, analyst: Any
) -> None:
    response = _post(
        client_for(analyst),
        investigation,
        sensitive_ports="22=ssh\r\n3306 = db, 8080\r\n\r\n9200:search",
        threshold_portscan_min_ports="40",
        threshold_exfil_min_bytes="",
        threshold_bruteforce_min_attempts="12.5",
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    params = QueryRun.objects.get().parameters
    assert params["sensitive_ports"] == {"22": "ssh", "3306": "db", "8080": "", "9200": "search"}
    assert params["thresholds"] == {
        **{k: float(v) for k, v in DEFAULT_THRESHOLDS.items()},
        "portscan_min_ports": 40.0,
        "bruteforce_min_attempts": 12.5,
    }
    parsed = AnalysisParams.from_dict(params)  # what the worker will read
    assert parsed.sensitive_ports[3306] == "db" and parsed.thresholds["portscan_min_ports"] == 40


def test_default_settings_keep_the_stored_parameters_small(
    investigation: Any, analyst: Any
) -> None:
    assert _post(client_for(analyst), investigation).status_code == 302
    params = QueryRun.objects.get().parameters
    assert "sensitive_ports" not in params and "thresholds" not in params


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("22=ssh\nabc", "“abc” is not port=label"),
        ("70000=big", "70000 is not a port (0 to 65535)."),
        ("22=ssh\n22=again", "Port 22 is listed twice."),
        ("22=<script>", "The label of port 22 must be up to 40 letters"),
    ],
)
def test_bad_sensitive_ports_are_reported_next_to_the_field(
    investigation: Any,
    analyst: Any,
    text: str,
    message: str,
) -> None:
    response = _post(client_for(analyst), investigation, sensitive_ports=text)
    assert response.status_code == 400
    body = response.content.decode()
    field = body[body.index('data-field="sensitive_ports"') :].split('data-field="threshold_')[0]
    assert message in field
    assert '<details class="form-section detection-settings" open>' in body
    assert "<script>" not in field
    assert not QueryRun.objects.exists()


def test_a_negative_threshold_is_reported_next_to_it(investigation: Any, analyst: Any) -> None:
    response = _post(client_for(analyst), investigation, threshold_fanout_min_hosts="-3")
    assert response.status_code == 400
    body = response.content.decode()
    field = body[body.index('data-field="threshold_fanout_min_hosts"') :]
    assert "greater than or equal to 0" in field.split("</div>")[0]


def test_an_empty_port_list_means_the_defaults() -> None:
    assert parse_port_list(" \n , ") == DEFAULT_SENSITIVE_PORTS
    assert parse_port_list("3389") == {3389: "rdp"}


def test_re_run_with_changes_prefills_the_window_ports_and_thresholds(
    investigation: Any,
    analyst: Any,
) -> None:
    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=analyst,
        status="succeeded",
        analyses=["detections"],
        window_start=datetime(2026, 11, 20, 10, 0, 5, tzinfo=UTC),
        window_end=datetime(2026, 11, 21, 10, 0, tzinfo=UTC),
        parameters={
            "top_n": 100,
            "sensitive_ports": {"22": "ssh", "8443": "admin"},
            "thresholds": {**DEFAULT_THRESHOLDS, "portscan_min_ports": 40.0},
        },
    )
    page = _form_page(client_for(analyst), investigation, f"?from={run.pk}")
    assert re.search(r'name="start_time" value="2026-11-20T10:00:05"', page)
    assert re.search(r'name="end_time" value="2026-11-21T10:00:00"', page)
    assert "22=ssh\n8443=admin</textarea>" in page
    assert 'name="threshold_portscan_min_ports" value="40"' in page
    assert '<details class="form-section detection-settings" open>' in page  # not hidden
    form = RunForm(initial=RunForm.initial_from_run(run), user=analyst)
    assert form.initial["threshold_portscan_min_ports"] == 40


def test_the_api_takes_sensitive_ports_and_thresholds(investigation: Any, analyst: Any) -> None:
    client = client_for(analyst)
    response = client.post(
        "/api/v1/runs/",
        {
            "investigation": investigation.pk,
            "analyses": "sensitive-ports",
            "files": sample_upload(),
            "sensitive_ports.22": "ssh",
            "sensitive_ports.8080": "",
            "thresholds.portscan_min_ports": "40",
        },
    )
    assert response.status_code == 202, response.content
    params = QueryRun.objects.get().parameters
    assert params["sensitive_ports"] == {"22": "ssh", "8080": ""}
    assert params["thresholds"]["portscan_min_ports"] == 40.0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sensitive_ports", {"http": "web"}, "sensitive_ports must be an integer"),
        ("sensitive_ports", {"70000": "x"}, "port must be between"),
        ("sensitive_ports", {}, "at least one port"),
        ("thresholds", {"nope": 1}, "unknown threshold"),
        ("thresholds", {"portscan_min_ports": -1}, "greater than or equal to 0"),
    ],
)
def test_the_api_refuses_bad_settings_by_field(
    investigation: Any, analyst: Any, field: str, value: Any, message: str
) -> None:
    response = client_for(analyst).post(
        "/api/v1/runs/",
        {
            "investigation": investigation.pk,
            "analyses": ["traffic-summary"],
            "account": None,
            "instance": "",
            field: value,
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    assert message in str(response.json().get(field)), response.json()
