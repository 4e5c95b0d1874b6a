"""403, 404 and 500 pages in the site's layout, and no inline style in any template (the CSP
blocks them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import RequestFactory
from django.views.defaults import server_error

from tests.conftest import client_for

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_a_403_has_the_navigation_a_title_and_the_reason(investigation: Any, manager: Any) -> None:
    response = client_for(manager).post(
        f"/investigations/{investigation.pk}/notes/", {"text": "no"}
    )
    assert response.status_code == 403
    html = response.content.decode()
    assert "<title>Not allowed · Flow Log Portal</title>" in html
    assert 'aria-label="Main"' in html and "Run history" in html
    assert "Your role can read this investigation but not change it." in html


def test_a_404_has_the_navigation_and_gives_nothing_away(
    outsider: Any, investigation: Any, settings: Any
) -> None:
    settings.DEBUG = False
    response = client_for(outsider).get(f"/investigations/{investigation.pk}/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "<title>Not found · Flow Log Portal</title>" in html and 'aria-label="Main"' in html
    assert investigation.title not in html


def test_the_500_page_renders_in_the_layout_without_a_request_context() -> None:
    response = server_error(RequestFactory().get("/"))
    html = response.content.decode()
    assert response.status_code == 500
    assert "<title>Server error · Flow Log Portal</title>" in html and "portal.css" in html


def test_no_template_has_an_inline_style() -> None:
    offenders = [
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*.html")
        if "style=" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
