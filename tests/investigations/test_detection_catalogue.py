"""The detection catalogue page and API list every detection with its metadata."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils.html import escape

from analysis.detections import all_detections
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_the_page_lists_every_detection_with_its_attack_ids(analyst: Any) -> None:
    page = client_for(analyst).get("/detections/").content.decode()
    for detection in all_detections():
        assert f'id="{detection.id}"' in page and escape(detection.type) in page
        for technique in detection.techniques:
            assert technique in page
    assert "<code>bruteforce_window_seconds</code>" in page


def test_the_api_lists_every_detection_with_its_parameters(analyst: Any) -> None:
    body = client_for(analyst).get("/api/v1/detections/").json()
    assert body["count"] == len(all_detections()) == len(body["results"])
    scan = next(item for item in body["results"] if item["id"] == "port-scan")
    assert scan["type"] == "Recon:EC2/Portscan"
    assert {"id": "T1046", "name": "Network Service Discovery"} in scan["techniques"]
    assert {"name": "portscan_min_ports", "default": 25,
            "meaning": "Port scan: minimum distinct destination ports from one source in one "
                       "window"} in scan["parameters"]  # fmt: skip
