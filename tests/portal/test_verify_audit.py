"""verify_audit finds edits, deletions and insertions made behind the application's back."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from portal import audit
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(analyst: Any) -> list[AuditEvent]:
    return [audit.record(actor=analyst, action=f"test.{i}", details={"i": i}) for i in range(5)]


def _verify() -> str:
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def _sql(statement: str, params: list[Any]) -> None:
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(statement.format(table=table), params)


def test_an_intact_log_verifies(chain: list[AuditEvent]) -> None:
    assert "5 events verified" in _verify()


def test_an_edited_event_is_named(chain: list[AuditEvent]) -> None:
    _sql("UPDATE {table} SET action = %s WHERE id = %s", ["test.tampered", chain[2].pk])
    with pytest.raises(CommandError, match=rf"#{chain[2].pk} .* was edited"):
        _verify()


def test_a_deleted_event_breaks_the_chain_where_it_was(chain: list[AuditEvent]) -> None:
    _sql("DELETE FROM {table} WHERE id = %s", [chain[2].pk])
    with pytest.raises(CommandError, match=rf"breaks at event #{chain[3].pk}.*after event "
                                           rf"#{chain[1].pk}"):
        _verify()


def test_an_inserted_event_breaks_the_chain(chain: list[AuditEvent], analyst: Any) -> None:
    forged = AuditEvent(actor=analyst, actor_name="alice", action="test.forged",
                        prev_hash=chain[4].hash)
    forged.hash = forged.compute_hash()
    forged.save()  # appended with a valid hash: fine on its own...
    assert "6 events verified" in _verify()
    _sql("UPDATE {table} SET prev_hash = %s WHERE id = %s", [forged.hash, chain[3].pk])
    with pytest.raises(CommandError, match=rf"#{chain[3].pk}"):  # ...spliced in: caught
        _verify()
