"""Comparing two runs: the rows logic, the page and the API, and who may compare what."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from investigations.compare import (
    compare_rows,
    compare_runs,
    default_counterpart,
    order_runs,
    parse_run_id,
)
from investigations.models import QueryRun, ResultRow, RunResult
from tests.conftest import client_for
from tests.factories import InvestigationFactory

SSH = ["srcaddr", "action", "flows", "packets", "bytes", "first_seen", "last_seen"]


def _row(src: str, flows: int, action: str = "REJECT", **extra: Any) -> dict[str, Any]:
    return {
        "srcaddr": src,
        "action": action,
        "flows": flows,
        "packets": flows * 10,
        "bytes": flows * 600,
        "first_seen": "2026-11-20T10:00:00+00:00",
        "last_seen": "2026-11-20T11:00:00+00:00",
        **extra,
    }


# ---------------------------------------------------------------------------- the rows logic


def test_rows_are_matched_on_their_key_and_sorted_into_added_removed_changed() -> None:
    before = [_row("203.0.113.50", 134), _row("198.51.100.7", 5), _row("192.0.2.1", 3)]
    after = [
        _row("203.0.113.50", 200),
        _row("192.0.2.1", 3, last_seen="2026-11-21T00:00"),
        _row("45.33.32.156", 12),
    ]
    result = compare_rows(
        analysis="ssh-inbound",
        title="SSH inbound",
        before_columns=SSH,
        before_rows=before,
        after_columns=SSH,
        after_rows=after,
    )
    assert result.key_columns == ["srcaddr", "action"]
    assert result.measure_columns == ["flows", "packets", "bytes"]
    assert [row["srcaddr"] for row in result.added] == ["45.33.32.156"]
    assert [row["srcaddr"] for row in result.removed] == ["198.51.100.7"]
    assert result.added[0] == {
        "srcaddr": "45.33.32.156",
        "action": "REJECT",
        "flows": 12,
        "packets": 120,
        "bytes": 7200,
    }
    # A later last_seen alone is not a change: only measures are.
    assert (
        result.added_count,
        result.removed_count,
        result.changed_count,
        result.unchanged_count,
    ) == (1, 1, 1, 1)
    changed = result.changed[0]
    assert changed.key == {"srcaddr": "203.0.113.50", "action": "REJECT"}
    flows = changed.measures[0]
    assert (flows.column, flows.before, flows.after, flows.delta) == ("flows", 134, 200, 66)
    assert flows.delta_text == "+66"
    assert changed.measures[2].delta_text == "+39,600"


def test_the_same_address_with_another_action_is_another_row() -> None:
    result = compare_rows(
        analysis="ssh-inbound",
        title="SSH",
        before_columns=SSH,
        before_rows=[_row("203.0.113.50", 4, "REJECT")],
        after_columns=SSH,
        after_rows=[_row("203.0.113.50", 4, "ACCEPT")],
    )
    assert (result.added_count, result.removed_count, result.changed_count) == (1, 1, 0)


def test_nine_to_ten_is_a_change_and_numbers_compare_as_numbers() -> None:
    columns = ["dstport", "flows"]
    result = compare_rows(
        analysis="x",
        title="x",
        before_columns=columns,
        before_rows=[{"dstport": 22, "flows": 9}, {"dstport": 80, "flows": 1}],
        after_columns=columns,
        after_rows=[{"dstport": 22, "flows": 10}, {"dstport": 80, "flows": 1.0}],
    )
    assert result.changed_count == 1 and result.unchanged_count == 1
    assert result.changed[0].measures[0].delta == 1


def test_changed_rows_come_largest_change_first() -> None:
    columns = ["dstaddr", "bytes"]
    before = [{"dstaddr": f"10.0.0.{i}", "bytes": 100} for i in range(3)]
    after = [
        {"dstaddr": "10.0.0.0", "bytes": 110},
        {"dstaddr": "10.0.0.1", "bytes": 5000},
        {"dstaddr": "10.0.0.2", "bytes": 0},
    ]
    result = compare_rows(
        analysis="x",
        title="x",
        before_columns=columns,
        before_rows=before,
        after_columns=columns,
        after_rows=after,
    )
    assert [row.key["dstaddr"] for row in result.changed] == ["10.0.0.1", "10.0.0.2", "10.0.0.0"]
    assert result.changed[1].measures[0].delta_text == "-100"


def test_nulls_in_keys_and_measures_are_values_like_any_other() -> None:
    columns = ["dstport", "protocol", "flows"]
    result = compare_rows(
        analysis="x",
        title="x",
        before_columns=columns,
        before_rows=[{"dstport": None, "protocol": "icmp", "flows": None}],
        after_columns=columns,
        after_rows=[{"dstport": None, "protocol": "icmp", "flows": 3}],
    )
    assert result.changed_count == 1 and result.added_count == result.removed_count == 0
    assert result.changed[0].measures[0].delta is None


def test_a_repeated_key_is_not_lost() -> None:
    columns = ["peer", "flows"]
    rows = [{"peer": "a", "flows": 1}, {"peer": "a", "flows": 2}]
    result = compare_rows(
        analysis="x",
        title="x",
        before_columns=columns,
        before_rows=rows[:1],
        after_columns=columns,
        after_rows=rows,
    )
    assert result.added_count == 1 and result.unchanged_count == 1


def test_lists_are_capped_with_a_note_and_counts_are_not() -> None:
    columns = ["srcaddr", "flows"]
    after = [{"srcaddr": f"10.0.{i // 256}.{i % 256}", "flows": i} for i in range(30)]
    result = compare_rows(
        analysis="x",
        title="x",
        before_columns=columns,
        before_rows=[],
        after_columns=columns,
        after_rows=after,
        show_limit=10,
    )
    assert result.added_count == 30 and len(result.added) == 10
    assert result.added[0]["flows"] == 0  # rank order of the run
    assert result.notes == ["Listing the first 10 rows of each kind; there are 30 added."]


def test_tables_grouped_by_different_columns_are_not_compared() -> None:
    result = compare_rows(
        analysis="top-external",
        title="Top external",
        before_columns=["srcaddr", "flows"],
        before_rows=[{"srcaddr": "a"}],
        after_columns=["srcaddr", "pkt_src_aws_service", "flows"],
        after_rows=[{"srcaddr": "a"}],
    )
    assert not result.comparable and not result.has_differences
    assert "grouped this analysis by different columns" in result.notes[0]


def test_detections_are_keyed_by_type_and_peer_not_by_their_wording() -> None:
    columns = [
        "type",
        "severity",
        "severity_label",
        "title",
        "peer",
        "targets",
        "flows",
        "bytes",
        "first_seen",
        "last_seen",
    ]
    finding = {
        "type": "Recon:EC2/Portscan",
        "severity": 5,
        "severity_label": "Medium",
        "title": "198.51.100.23 probed 651 ports",
        "peer": "198.51.100.23",
        "targets": "10.0.1.10",
        "flows": 651,
        "bytes": 28644,
    }
    worse = {
        **finding,
        "severity": 8,
        "title": "198.51.100.23 probed 900 ports",
        "targets": "10.0.1.10, 10.0.1.11",
        "flows": 900,
    }
    result = compare_rows(
        analysis="detections",
        title="Detections",
        before_columns=columns,
        before_rows=[finding],
        after_columns=columns,
        after_rows=[worse],
    )
    assert result.key_columns == ["type", "peer"]
    assert result.changed_count == 1
    assert [m.column for m in result.changed[0].measures if m.changed] == ["severity", "flows"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("12", 12),
        (" 7 ", 7),
        ("", None),
        (None, None),
        ("-1", None),
        ("1e3", None),
        ("²", None),
        ("9" * 19, None),
        ("abc", None),
    ],
)
def test_run_ids_from_a_query_are_read_safely(given: str | None, expected: int | None) -> None:
    assert parse_run_id(given) == expected


# -------------------------------------------------------------------------------- stored runs


def _run(
    investigation: Any,
    tables: dict[str, tuple[list[str], list[dict[str, Any]]]],
    *,
    age_hours: int = 0,
    status: str = "succeeded",
    **fields: Any,
) -> QueryRun:
    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=investigation.owner,
        analyses=list(tables),
        status=status,
        **fields,
    )
    QueryRun.objects.filter(pk=run.pk).update(
        created_at=timezone.now() - timedelta(hours=age_hours)
    )
    run.refresh_from_db()
    for position, (analysis, (columns, rows)) in enumerate(tables.items()):
        result = RunResult.objects.create(
            run=run,
            analysis=analysis,
            title=analysis.replace("-", " ").title(),
            position=position,
            columns=columns,
            row_count=len(rows),
            total_groups=fields.get("parameters", {}).get("groups", len(rows)),
        )
        ResultRow.objects.bulk_create(
            ResultRow(result=result, position=i, data=row) for i, row in enumerate(rows)
        )
    return run


@pytest.fixture
def two_runs(investigation: Any) -> tuple[QueryRun, QueryRun]:
    older = _run(
        investigation,
        {
            "ssh-inbound": (SSH, [_row("203.0.113.50", 134), _row("198.51.100.7", 5)]),
            "port-specific": (["dstport", "flows"], [{"dstport": 22, "flows": 3}]),
        },
        age_hours=5,
    )
    newer = _run(
        investigation,
        {
            "ssh-inbound": (SSH, [_row("203.0.113.50", 200), _row("<b>evil</b>", 1)]),
            "rejected": (["srcaddr", "flows"], [{"srcaddr": "203.0.113.50", "flows": 9}]),
        },
        age_hours=1,
    )
    return older, newer


@pytest.mark.django_db
def test_runs_compare_the_analyses_they_share_and_name_the_others(
    two_runs: tuple[QueryRun, QueryRun],
) -> None:
    older, newer = two_runs
    comparison = compare_runs(*order_runs(newer, older))
    assert (comparison.before, comparison.after) == (older, newer)
    assert [item.analysis for item in comparison.analyses] == ["ssh-inbound"]
    assert comparison.only_before == [("port-specific", "Port Specific")]
    assert comparison.only_after == [("rejected", "Rejected")]
    ssh = comparison.analyses[0]
    assert (ssh.added_count, ssh.removed_count, ssh.changed_count) == (1, 1, 1)


@pytest.mark.django_db
def test_partial_inputs_are_said_out_loud(investigation: Any) -> None:
    rows = [{"srcaddr": f"10.0.0.{i}", "flows": i} for i in range(6)]
    older = _run(investigation, {"top-talkers": (["srcaddr", "flows"], rows)}, age_hours=2)
    newer = _run(
        investigation,
        {"top-talkers": (["srcaddr", "flows"], rows[:3])},
        parameters={"groups": 40, "top_n": 3},
    )
    RunResult.objects.filter(run=newer).update(truncated=True)
    comparison = compare_runs(older, newer, row_limit=4)
    notes = comparison.analyses[0].notes
    assert any(f"Only the top 4 of run #{older.pk}'s 6 stored rows" in n for n in notes)
    assert any(f"Run #{newer.pk} kept the top 3 of 40 groups" in n for n in notes)
    assert any("different parameters" in n for n in comparison.notes)


@pytest.mark.django_db
def test_the_default_is_the_previous_finished_run_of_the_investigation(
    investigation: Any,
    analyst: Any,
    manager: Any,
) -> None:
    first = _run(investigation, {}, age_hours=9)
    _failed = _run(investigation, {}, age_hours=6, status="failed")
    third = _run(investigation, {}, age_hours=3)
    _elsewhere = _run(InvestigationFactory(owner=analyst), {}, age_hours=4)
    assert default_counterpart(third, analyst) == first
    assert default_counterpart(first, analyst) == third  # no earlier one: the next
    assert default_counterpart(first, manager) == third


# ------------------------------------------------------------------------------- page and API


def _compare_url(run: QueryRun, other: QueryRun | None = None) -> str:
    url = reverse("investigations:run_compare", args=[run.pk])
    return f"{url}?with={other.pk}" if other is not None else url


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["analyst", "teammate", "manager", "admin_user"])
def test_everyone_who_reads_both_runs_sees_the_comparison(
    who: str,
    two_runs: tuple[QueryRun, QueryRun],
    request: pytest.FixtureRequest,
) -> None:
    older, newer = two_runs
    user = request.getfixturevalue(who)
    response = client_for(user).get(_compare_url(newer))  # defaults to the previous run
    assert response.status_code == 200
    body = response.content.decode()
    assert f'<option value="{older.pk}" selected>' in body
    assert "Added in run" in body and "Gone since run" in body and "Changed" in body
    assert "&lt;b&gt;evil&lt;/b&gt;" in body and "<b>evil</b>" not in body
    assert "134</span> → <strong>200</strong>" in body and "(+66)" in body
    assert "only in run #" in body


@pytest.mark.django_db
def test_an_outsider_gets_404(two_runs: tuple[QueryRun, QueryRun], outsider: Any) -> None:
    older, newer = two_runs
    assert client_for(outsider).get(_compare_url(newer, older)).status_code == 404
    assert (
        client_for(outsider).get(f"/api/v1/runs/{newer.pk}/compare/?with={older.pk}").status_code
        == 404
    )


@pytest.mark.django_db
def test_a_run_the_user_cannot_read_cannot_be_the_other_side(
    two_runs: tuple[QueryRun, QueryRun],
    outsider: Any,
    analyst: Any,
) -> None:
    _older, newer = two_runs
    hidden = _run(InvestigationFactory(owner=outsider), {"ssh-inbound": (SSH, [])})
    client = client_for(analyst)
    assert client.get(_compare_url(newer, hidden)).status_code == 404
    assert client.get(f"/api/v1/runs/{newer.pk}/compare/?with={hidden.pk}").status_code == 404
    assert client.get(_compare_url(newer, QueryRun(pk=999_999))).status_code == 404
    # Nor is it offered in the picker.
    assert f'value="{hidden.pk}"' not in client.get(_compare_url(newer)).content.decode()


@pytest.mark.django_db
def test_runs_of_other_readable_investigations_can_be_compared(
    two_runs: tuple[QueryRun, QueryRun],
    analyst: Any,
) -> None:
    _older, newer = two_runs
    elsewhere = _run(
        InvestigationFactory(owner=analyst, title="Other case"),
        {"ssh-inbound": (SSH, [_row("203.0.113.50", 1)])},
    )
    body = client_for(analyst).get(_compare_url(newer, elsewhere)).content.decode()
    assert 'label="Other investigations (most recent)"' in body
    assert f'<option value="{elsewhere.pk}" selected>' in body
    assert "Other case" in body


@pytest.mark.django_db
def test_bad_choices_are_refused_with_a_message(
    two_runs: tuple[QueryRun, QueryRun], analyst: Any
) -> None:
    _older, newer = two_runs
    client = client_for(analyst)
    url = reverse("investigations:run_compare", args=[newer.pk])
    response = client.get(url, {"with": "yesterday"})
    assert response.status_code == 400 and b"Pick a run to compare with" in response.content
    response = client.get(url, {"with": newer.pk})
    assert response.status_code == 400 and b"Pick a different run" in response.content


@pytest.mark.django_db
def test_a_lone_run_offers_nothing_and_says_so(investigation: Any, analyst: Any) -> None:
    run = _run(investigation, {"ssh-inbound": (SSH, [])})
    body = client_for(analyst).get(_compare_url(run)).content.decode()
    assert "no other finished run of this investigation" in body


@pytest.mark.django_db
def test_the_run_page_links_to_the_comparison(
    two_runs: tuple[QueryRun, QueryRun], manager: Any
) -> None:
    _older, newer = two_runs
    body = client_for(manager).get(newer.get_absolute_url()).content.decode()
    assert f'href="{_compare_url(newer)}"' in body and "Compare with…" in body


@pytest.mark.django_db
def test_the_api_compares_two_runs(two_runs: tuple[QueryRun, QueryRun], manager: Any) -> None:
    older, newer = two_runs
    client = client_for(manager)
    response = client.get(f"/api/v1/runs/{older.pk}/compare/", {"with": newer.pk})
    assert response.status_code == 200
    data = response.json()
    assert (data["before"], data["after"]) == (older.pk, newer.pk)
    assert data["only_before"] == ["port-specific"] and data["only_after"] == ["rejected"]
    ssh = data["analyses"][0]
    assert ssh["key_columns"] == ["srcaddr", "action"]
    assert [row["srcaddr"] for row in ssh["added"]] == ["<b>evil</b>"]
    assert ssh["changed"] == [
        {
            "key": {"srcaddr": "203.0.113.50", "action": "REJECT"},
            "before": {"flows": 134, "packets": 1340, "bytes": 80400},
            "after": {"flows": 200, "packets": 2000, "bytes": 120000},
        }
    ]
    assert client.get(f"/api/v1/runs/{older.pk}/compare/").status_code == 400
    assert client.get(f"/api/v1/runs/{older.pk}/compare/", {"with": older.pk}).status_code == 400
    assert (
        client.get(
            f"/api/v1/runs/{older.pk}/compare/", {"with": "99999999999999999999999"}
        ).status_code
        == 400
    )
