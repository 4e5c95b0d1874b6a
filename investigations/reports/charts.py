"""Charts drawn as SVG on the server, for reports: no JavaScript, no fetch, text escaped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

WIDTH = 640
BAR_HEIGHT = 22
LABEL_WIDTH = 190
PALETTE = ("#1f6feb", "#d1242f", "#8250df", "#1a7f37", "#bf8700", "#57606a")
SEVERITY_COLOURS = {
    "critical": "#82071e",
    "high": "#d1242f",
    "medium": "#bf8700",
    "low": "#1f6feb",
}


@dataclass
class Chart:
    """A chart and the numbers it draws (a report shows both, so it reads without the image)."""

    title: str
    svg: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def human_bytes(value: float) -> str:
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1024 or unit == "TB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} TB"


def _svg(height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="{escape(title)}" '
        'font-family="DejaVu Sans, sans-serif" font-size="12">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def bar_chart(
    title: str,
    bars: Sequence[tuple[str, float]],
    *,
    colours: dict[str, str] | None = None,
    bytes_values: bool = False,
) -> str:
    """Horizontal bars, one per (label, value), longest first as given."""
    height = max(1, len(bars)) * (BAR_HEIGHT + 6) + 10
    body: list[str] = []
    top = max((value for _, value in bars), default=0) or 1
    room = WIDTH - LABEL_WIDTH - 110
    for index, (label, value) in enumerate(bars):
        y = 4 + index * (BAR_HEIGHT + 6)
        length = max(1.0, room * value / top) if value else 0.0
        colour = (colours or {}).get(label, PALETTE[0])
        shown = human_bytes(value) if bytes_values else f"{value:,.0f}"
        short = label if len(label) <= 28 else label[:27] + "…"
        body.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 15}" text-anchor="end">{escape(short)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" '
            f'fill="{colour}"/>'
            f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{y + 15}">{escape(shown)}</text>'
        )
    if not bars:
        body.append('<text x="0" y="20">Nothing to draw.</text>')
    return _svg(height, title, body)


def line_chart(title: str, times: list[str], series: dict[str, list[int]], unit: str) -> str:
    """One line per series over a shared time axis (first and last time labelled)."""
    height, left, right, top, bottom = 240, 70, 20, 10, 60
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    peak = max((max(values, default=0) for values in series.values()), default=0) or 1
    body = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#57606a"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#57606a"/>',
        f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" font-size="10">'
        f"{escape(_axis_value(peak, unit))}</text>",
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" font-size="10">0</text>',
    ]
    count = len(times)
    step = plot_w / (count - 1) if count > 1 else 0
    for index, (name, values) in enumerate(series.items()):
        colour = "#d1242f" if name.upper() == "REJECT" else PALETTE[index % len(PALETTE)]
        points = " ".join(
            f"{left + i * step:.1f},{top + plot_h - plot_h * v / peak:.1f}"
            for i, v in enumerate(values)
        )
        if count == 1:
            y = top + plot_h - plot_h * values[0] / peak
            body.append(f'<circle cx="{left}" cy="{y:.1f}" r="3" fill="{colour}"/>')
        else:
            body.append(
                f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
            )
        legend_x = left + index * 120
        body.append(
            f'<rect x="{legend_x}" y="{height - 18}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{legend_x + 14}" y="{height - 9}">{escape(name)}</text>'
        )
    if times:
        body.append(
            f'<text x="{left}" y="{top + plot_h + 16}" font-size="10">{escape(times[0])}</text>'
        )
        if count > 1:
            body.append(
                f'<text x="{left + plot_w}" y="{top + plot_h + 16}" font-size="10" '
                f'text-anchor="end">{escape(times[-1])}</text>'
            )
    else:
        body.append(f'<text x="{left + 10}" y="{top + 20}">Nothing to draw.</text>')
    return _svg(height, title, body)


def _axis_value(value: float, unit: str) -> str:
    return human_bytes(value) if unit == "bytes" else f"{value:,.0f}"
