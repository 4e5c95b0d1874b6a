"""The OpenAPI schema and its docs page, served without any CDN."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from django.test import Client

from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_the_schema_describes_every_endpoint_and_bearer_auth(analyst: Any) -> None:
    response = client_for(analyst).get("/api/v1/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    for expected in ("/api/v1/investigations/", "/api/v1/runs/", "/api/v1/runs/{id}/cancel/",
                     "/api/v1/runs/{run_pk}/results/{analysis}/", "/api/v1/findings/",
                     "/api/v1/audit-events/"):
        assert expected in paths, expected
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "202" in schema["paths"]["/api/v1/runs/"]["post"]["responses"]


def test_the_schema_needs_a_login() -> None:
    assert Client().get("/api/v1/schema/").status_code == 401


def test_the_docs_page_loads_its_assets_locally(analyst: Any) -> None:
    page = client_for(analyst).get("/api/v1/docs/")
    assert page.status_code == 200
    sources = re.findall(rb'(?:src|href)="([^"]+)"', page.content)
    assert sources, page.content[:500]
    assert all(not s.startswith((b"http://", b"https://", b"//")) for s in sources), sources
