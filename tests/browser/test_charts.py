"""A real browser on a finished run: ECharts charts, the Cytoscape graph, its slider and filter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from analysis.demo import generate
from tests.factories import PASSWORD, InvestigationFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.worker]

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
ANALYSES = ["traffic-summary", "time-series", "top-talkers", "graph"]


def _visible_rows(page: Any, analysis: str) -> list[str]:
    return page.locator(f"#table-{analysis} table.data tbody tr:not([hidden])").all_inner_texts()


def _series_count(page: Any, element_id: str) -> int:
    return page.evaluate(
        "id => echarts.getInstanceByDom(document.getElementById(id)).getOption().series.length",
        element_id,
    )


def test_charts_and_graph_render_and_the_graph_filters_the_tables(
    live_server: Any, page: Any, celery_worker_process: Any, analyst: Any, tmp_path: Path
) -> None:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_viewport_size({"width": 1280, "height": 900})
    InvestigationFactory(owner=analyst, title="Charts case")
    manifest = generate(tmp_path / "demo.log", lines=5000, seed=7)

    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Charts case").click()
    page.get_by_role("link", name="New run").click()
    page.get_by_label("Flow-log files").set_input_files(manifest.path)
    for box in page.locator('input[name="analyses"]').all():
        box.set_checked(box.get_attribute("value") in ANALYSES)
    page.get_by_label("VPC CIDRs (internal ranges)").fill(", ".join(manifest.vpc_cidrs))
    page.get_by_role("button", name="Start run").click()

    page.wait_for_selector('[data-status="succeeded"]', timeout=120_000)
    page.wait_for_selector('#charts[data-ready="3"]', timeout=30_000)
    page.wait_for_selector('#graph[data-ready="true"]', timeout=30_000)

    # Charts: each drew a canvas from real series and says in words what it shows.
    for chart in ("time-series", "traffic-summary", "top-talkers"):
        assert page.locator(f"#chart-{chart} canvas").count() >= 1
        assert _series_count(page, f"chart-{chart}") >= 1
    assert _series_count(page, "chart-time-series") == 2  # ACCEPT and REJECT
    flows_caption = page.locator("#summary-time-series").inner_text()
    assert "flows from" in flows_caption and "ACCEPT" in flows_caption
    assert (
        "addresses that sent and received the most"
        in page.locator("#summary-top-talkers").inner_text()
    )
    page.locator("#chart-time-series").hover()  # a tooltip must not break the CSP

    page.get_by_role("radio", name="Bytes").check()
    bytes_caption = page.locator("#summary-time-series").inner_text()
    assert bytes_caption != flows_caption and "flows from" not in bytes_caption
    assert _series_count(page, "chart-top-talkers") == 2  # sent and received
    page.locator("#chart-top-talkers").hover(position={"x": 160, "y": 60})
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#charts").screenshot(path=str(ARTIFACTS / "run-charts-bytes.png"))
    page.get_by_role("radio", name="Flows").check()

    # Clicking a top talker's bar filters the tables to it, and the filter can be cleared.
    talker, x, y = page.evaluate(
        """() => {
          const el = document.getElementById('chart-top-talkers');
          el.scrollIntoView({block: 'center'});
          const chart = echarts.getInstanceByDom(el);
          const first = chart.getOption().yAxis[0].data[0];
          const series = chart.getOption().series;  // bytes sent and received, stacked
          const value = series[0].data[0] + series[1].data[0];
          const [px, py] = chart.convertToPixel({gridIndex: 0}, [value / 2, 0]);
          const box = el.getBoundingClientRect();
          return [first, box.left + px, box.top + py];
        }"""
    )
    page.mouse.click(x, y)  # the server filters every stored row: the page reloads
    page.locator(".ip-filter-summary").wait_for(state="visible")
    assert f"Filtered to {talker}" in page.locator(".ip-filter-summary").inner_text()
    page.locator("#results").get_by_role("link", name="Clear").click()
    page.wait_for_selector('#graph[data-ready="true"]', timeout=30_000)
    assert page.locator(".ip-filter-summary").count() == 0

    # Graph: nodes and edges drawn; the slider hides quiet edges.
    nodes = page.evaluate("portalGraph.cy().nodes().length")
    edges = page.evaluate("portalGraph.visibleEdges()")
    assert nodes > 0 and edges > 0
    assert page.locator("#graph-canvas canvas").count() >= 1
    slider = page.get_by_label("Minimum flows per edge")
    top = slider.get_attribute("max")
    assert top is not None and int(top) > 0
    slider.fill(top)
    fewer = page.evaluate("portalGraph.visibleEdges()")
    assert 0 < fewer < edges
    threshold = page.locator("#graph-min-flows-value").inner_text()
    assert f"at least {threshold} flows" in page.locator("#graph-summary").inner_text()
    slider.fill("0")
    assert page.evaluate("portalGraph.visibleEdges()") == edges

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "run-charts.png"), full_page=True)
    page.locator("#charts").screenshot(path=str(ARTIFACTS / "run-charts-light.png"))
    page.locator("#graph").screenshot(path=str(ARTIFACTS / "run-graph-light.png"))

    # Clicking the busiest internal node filters the tables to its address.
    ip, x, y = page.evaluate(
        """() => {
          document.getElementById('graph-canvas').scrollIntoView({block: 'center'});
          const cy = portalGraph.cy();
          const node = cy.nodes('.internal').max(n => n.data('bytes')).ele;
          cy.center(node);
          const box = document.getElementById('graph-canvas').getBoundingClientRect();
          const at = node.renderedPosition();
          return [node.data('ip'), box.left + at.x, box.top + at.y];
        }"""
    )
    page.mouse.click(x, y)
    bar = page.locator(".ip-filter-summary")
    bar.wait_for(state="visible")
    assert f"Filtered to {ip}" in bar.inner_text()
    talkers = _visible_rows(page, "top-talkers")
    assert talkers and all(ip in row.split() for row in talkers)
    graph_rows = _visible_rows(page, "graph")
    assert graph_rows and all(ip in row.split() for row in graph_rows)
    assert _visible_rows(page, "traffic-summary") == []  # no addresses in that table
    page.screenshot(path=str(ARTIFACTS / "run-charts-filtered.png"))

    page.wait_for_selector('#graph[data-ready="true"]', timeout=30_000)  # focused on the node
    page.locator("#results").get_by_role("link", name="Clear").click()
    page.wait_for_selector('#graph[data-ready="true"]', timeout=30_000)
    assert page.locator(".ip-filter-summary").count() == 0
    assert len(_visible_rows(page, "top-talkers")) == 10  # every address's first rows again

    # Dark mode follows the system setting without a reload or errors.
    page.emulate_media(color_scheme="dark")
    page.wait_for_timeout(300)
    page.locator("#charts").screenshot(path=str(ARTIFACTS / "run-charts-dark.png"))
    page.locator("#graph").screenshot(path=str(ARTIFACTS / "run-graph-dark.png"))
    legend = (
        "id => echarts.getInstanceByDom(document.getElementById(id))"
        ".getOption().legend[0].textStyle.color"
    )
    assert page.evaluate(legend, "chart-time-series") == "#e6edf3"  # dark --text
    # The header's theme toggle beats the system setting, and the charts follow it at once.
    page.get_by_role("radio", name="Light").check()
    assert page.evaluate(legend, "chart-time-series") == "#1f2328"  # light --text
    assert errors == []
