"""The report as Markdown: tables for everything an auditor checks, charts as embedded SVG."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence

from investigations.reports.content import Report, when


def cell(value: object) -> str:
    """Text safe inside a Markdown table cell: pipes escaped, line breaks folded."""
    text = str(value if value is not None else "—")
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")
    return text.replace("<", "&lt;").replace(">", "&gt;") or "—"


def text(value: object) -> str:
    """Free text outside tables: HTML neutralised, so a note cannot smuggle markup in."""
    return str(value).replace("<", "&lt;").replace(">", "&gt;")


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(cell(h) for h in header) + " |"]
    lines.append("|" + "|".join(" --- " for _ in header) + "|")
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def render_markdown(report: Report) -> str:
    inv = report.investigation
    out: list[str] = [
        f"# Investigation report: {text(inv.title)}",
        "",
        f"Investigation #{inv.pk}, generated {when(report.generated_at)} by "
        f"{text(report.generated_by)}.",
        "",
        "## Scope",
        "",
        *table(("Scope", "Value"), report.scope),
        "## Summary",
        "",
        *table(("Severity", "Findings"), report.severity_counts),
        *table(("Triage status", "Findings"), report.status_counts or [("none", 0)]),
        "## Charts",
        "",
    ]
    for chart in report.charts:
        data = base64.b64encode(chart.svg.encode()).decode()
        out += [
            f"### {text(chart.title)}",
            "",
            f"![{cell(chart.title)}](data:image/svg+xml;base64,{data})",
            "",
        ]
        out += table(chart.header, chart.rows)
        out += [f"*{text(note)}*" for note in chart.notes] + ([""] if chart.notes else [])
    out += ["## Runs", ""]
    if not report.runs:
        out += ["No run yet.", ""]
    for section in report.runs:
        run = section.run
        out += [
            f"### Run #{run.pk}: {run.get_status_display()}",
            "",
            f"- Requested by {text(run.requested_by.get_username())} at {when(run.created_at)}; "
            f"finished {when(run.finished_at)}",
            f"- Analyses: {', '.join(run.analyses) or 'none'}",
            f"- Source: {text(section.source)}",
            f"- Window: {section.window}",
            f"- Analysed with {section.engine}",
        ]
        if section.counts:
            out.append("- Records: " + ", ".join(f"{n:,} {label}" for label, n in section.counts))
        out.append(
            f"- Malformed lines: {section.malformed:,}; SKIPDATA records: {section.skipdata:,}; "
            f"unreadable files: {section.unreadable:,}"
        )
        if section.references:
            out.append("- Reference tables: " + "; ".join(text(r) for r in section.references))
        if section.listing_digest:
            out.append(f"- SHA-256 of the list of everything read: `{section.listing_digest}`")
        out += [f"- {text(note)}" for note in section.notes]
        out.append("")
        if section.items:
            out += table(
                ("Read", "Bytes", "Lines", "Digest", "Problem"),
                (
                    (
                        item.name,
                        f"{item.size:,}" if item.size is not None else "—",
                        f"{item.lines:,}" if item.lines is not None else "—",
                        f"{item.digest_kind} {item.digest}" if item.digest else "—",
                        item.error or "",
                    )
                    for item in section.items
                ),
            )
        if section.gaps:
            out += ["Coverage gaps (SKIPDATA: the interface logged but records were lost):", ""]
            out += table(
                ("Interface", "From", "To", "Where"),
                (
                    (
                        g.get("interface_id") or "—",
                        g.get("start"),
                        g.get("end"),
                        f"{g.get('file')}:{g.get('line')}",
                    )
                    for g in section.gaps
                ),
            )
    out += ["## Findings", ""]
    if not report.findings:
        out += ["No findings.", ""]
    for entry in report.findings:
        f = entry.finding
        out += [
            f"### {text(f.title)}",
            "",
            f"- Type: `{f.type}`; severity {f.severity} ({f.severity_label}); raised by run "
            f"#{f.run_id}",
            f"- Sighted by {entry.sightings:,} run{'s' if entry.sightings != 1 else ''}, "
            f"last by run #{entry.last_run_id}",
            f"- Seen {when(f.first_seen)} to {when(f.last_seen)}",
            f"- Triage: {f.get_status_display()}; assignee "
            f"{text(f.assignee.get_username()) if f.assignee else 'none'}",
        ]
        if f.triage_comment:
            out.append(f"- Last triage comment: {text(f.triage_comment)}")
        out.append(f"- ATT&CK: {'; '.join(entry.attack) if entry.attack else 'none given'}")
        if f.explanation:
            out += ["", text(f.explanation)]
        out.append("")
        if entry.evidence:
            out += table(("Evidence", "Value"), entry.evidence)
    out += ["## Notes", ""]
    if not report.notes:
        out += ["No notes.", ""]
    for note in report.notes:
        out += [f"**{text(note.author.get_username())}**, {when(note.created_at)}:", ""]
        out += ["> " + text(line) for line in note.text.splitlines()] + [""]
    out += ["## Timeline", ""]
    out += table(
        ("When", "Who", "What"),
        ((when(line.at), line.actor, line.text) for line in report.timeline),
    )
    if report.timeline_capped:
        out += ["*The timeline is cut at its oldest entries; the audit log holds every one.*", ""]
    return "\n".join(out).rstrip() + "\n"
