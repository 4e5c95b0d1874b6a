"""The report as PDF: the report template laid out by WeasyPrint with the vendored DejaVu fonts;
the only URLs it may open are those fonts and the charts' data: URIs (nothing leaves the box)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string

from investigations.reports.content import Report, when

FONT_DIR = Path(settings.BASE_DIR) / "static" / "vendor" / "dejavu"


class FetchRefused(ValueError):
    """The report asked for a resource other than its fonts and inline charts."""


def _fetcher() -> Any:
    """A WeasyPrint URL fetcher that opens data: URIs and the vendored font files, nothing else."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class ReportFetcher(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            if url.startswith("data:"):
                return super().fetch(url, headers)
            if url.startswith("file://"):
                path = Path(url.removeprefix("file://")).resolve()
                if path.parent == FONT_DIR.resolve() and path.suffix == ".ttf":
                    return URLFetcherResponse(
                        url, path.read_bytes(), headers={"Content-Type": "font/ttf"}
                    )
            raise FetchRefused(f"A report may not fetch {url[:80]!r}.")

    return ReportFetcher(allowed_protocols=("data", "file"), allow_redirects=False)


def render_html(report: Report) -> str:
    charts = [
        {
            "chart": chart,
            "src": "data:image/svg+xml;base64," + base64.b64encode(chart.svg.encode()).decode(),
        }
        for chart in report.charts
    ]
    return render_to_string(
        "investigations/report.html",
        {
            "report": report,
            "charts": charts,
            "font_dir": FONT_DIR.resolve().as_uri(),
            "generated": when(report.generated_at),
        },
    )


def render_pdf(report: Report, *, fetcher: Any = None) -> bytes:
    from weasyprint import HTML
    from weasyprint.text.fonts import FontConfiguration

    fonts = FontConfiguration()
    document = HTML(
        string=render_html(report), url_fetcher=fetcher or _fetcher(), base_url=FONT_DIR.as_uri()
    )
    return bytes(document.write_pdf(font_config=fonts))
