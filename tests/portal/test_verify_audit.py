"""verify_audit finds edits, insertions, deletions, truncation and rewrites made behind the
application's back, using the keyed chain and the checkpoints kept outside the database."""

from __future__ import annotations

import hashlib
import hmac
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from portal import audit
from portal.audit_chain import legacy_event_hash, signing_key, write_checkpoint
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db

OTHER_KEY = "a-different-secret-the-attacker-guessed-0123456789abcdefghijklmnop"


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


def _delete_from(event: AuditEvent) -> None:
    """Delete `event` and everything newer, as someone with database access would."""
    _sql("DELETE FROM {table} WHERE id >= %s", [event.pk])


def test_an_intact_log_verifies(chain: list[AuditEvent]) -> None:
    output = _verify()
    assert f"{AuditEvent.objects.count()} events verified" in output
    assert "No checkpoint yet" in output


def test_an_edited_event_is_named(chain: list[AuditEvent]) -> None:
    _sql("UPDATE {table} SET action = %s WHERE id = %s", ["test.tampered", chain[2].pk])
    with pytest.raises(CommandError, match=rf"#{chain[2].pk} .* was edited"):
        _verify()


def test_a_deleted_event_breaks_the_chain_where_it_was(chain: list[AuditEvent]) -> None:
    _sql("DELETE FROM {table} WHERE id = %s", [chain[2].pk])
    with pytest.raises(
        CommandError,
        match=rf"breaks at event #{chain[3].pk}.*after event "
        rf"#{chain[1].pk}",
    ):
        _verify()


def test_an_inserted_event_breaks_the_chain(chain: list[AuditEvent], analyst: Any) -> None:
    forged = AuditEvent(
        actor=analyst,
        actor_user_id=analyst.pk,
        actor_name="alice",
        action="test.forged",
        prev_hash=chain[4].hash,
        key_id=signing_key().key_id,
    )
    forged.hash = forged.compute_hash()
    forged.save()  # appended with a valid hash (the application holds the key): fine alone...
    assert "events verified" in _verify()
    _sql("UPDATE {table} SET prev_hash = %s WHERE id = %s", [forged.hash, chain[3].pk])
    with pytest.raises(CommandError, match=rf"#{chain[3].pk}"):  # ...spliced in: caught
        _verify()


def test_deleting_the_newest_events_is_found_once_a_checkpoint_exists(
    chain: list[AuditEvent],
) -> None:
    _delete_from(chain[3])
    assert "events verified" in _verify()  # the chain alone cannot tell: it just ends sooner
    chain += [audit.record(actor=None, action=f"test.again.{i}") for i in range(3)]
    checkpoint = write_checkpoint()
    assert checkpoint is not None and checkpoint.head_id == chain[-1].pk
    _delete_from(chain[-2])
    with pytest.raises(
        CommandError,
        match=rf"truncated: the checkpoint of .* recorded "
        rf"{checkpoint.events} events up to "
        rf"#{chain[-1].pk}; the log now ends at "
        rf"#{chain[-3].pk}",
    ):
        _verify()


def test_deleting_everything_is_found(chain: list[AuditEvent]) -> None:
    write_checkpoint()
    _delete_from(chain[0])
    _sql("DELETE FROM {table}", [])
    with pytest.raises(CommandError, match=r"truncated.*the log now ends at #- with 0 events"):
        _verify()


def test_deleting_before_the_checkpoint_is_found_even_with_the_chain_mended(
    chain: list[AuditEvent],
) -> None:
    checkpoint = write_checkpoint()
    assert checkpoint is not None
    _sql("DELETE FROM {table} WHERE id = %s", [chain[1].pk])
    # Mending the link cannot produce a valid hash without the key: both are reported.
    _sql("UPDATE {table} SET prev_hash = %s WHERE id = %s", [chain[0].hash, chain[2].pk])
    with pytest.raises(CommandError) as caught:
        _verify()
    message = str(caught.value)
    assert f"#{chain[2].pk} (test.2" in message and "was edited" in message
    assert f"counted {checkpoint.events} events up to #{chain[4].pk}" in message


def _rewrite_every_hash(sign: Any) -> None:
    previous = ""
    for event in AuditEvent.objects.order_by("id"):
        event.prev_hash = previous
        previous = sign(event)
        _sql(
            "UPDATE {table} SET prev_hash = %s, hash = %s WHERE id = %s",
            [event.prev_hash, previous, event.pk],
        )


def test_a_full_rewrite_with_plain_hashes_is_found(chain: list[AuditEvent]) -> None:
    _sql("UPDATE {table} SET action = %s WHERE id = %s", ["test.tampered", chain[2].pk])
    _rewrite_every_hash(legacy_event_hash)  # what the old, unkeyed chain accepted
    first = AuditEvent.objects.order_by("id").first()
    assert first is not None
    with pytest.raises(CommandError, match=rf"#{first.pk} .* was edited"):
        _verify()


def test_a_full_rewrite_under_a_guessed_key_is_found(chain: list[AuditEvent]) -> None:
    guessed = hashlib.sha256(OTHER_KEY.encode()).digest()

    def sign(event: AuditEvent) -> str:
        from portal.audit_chain import event_content

        encoded = json.dumps(
            event_content(event), sort_keys=True, separators=(",", ":"), default=str
        ).encode()
        return hmac.new(guessed, encoded, hashlib.sha256).hexdigest()

    _sql("UPDATE {table} SET details = %s WHERE id = %s", ['{"i": 99}', chain[2].pk])
    _rewrite_every_hash(sign)
    with pytest.raises(CommandError, match=r"was edited"):
        _verify()


def test_a_rewrite_claiming_an_unknown_key_is_found(chain: list[AuditEvent]) -> None:
    _sql("UPDATE {table} SET key_id = %s WHERE id = %s", ["0123456789abcdef", chain[0].pk])
    with pytest.raises(
        CommandError,
        match=rf"#{chain[0].pk} .* key id 0123456789abcdef, "
        r"which is not configured",
    ):
        _verify()


def test_deleting_a_user_raises_no_alarm(chain: list[AuditEvent], teammate: Any) -> None:
    audit.record(actor=teammate, action="test.by_bob")
    write_checkpoint()
    get_user_model().objects.filter(pk=teammate.pk).delete()
    event = AuditEvent.objects.get(action="test.by_bob")
    assert event.actor is None  # the link went with the user; the snapshot stays
    assert event.actor_user_id == teammate.pk and event.actor_name == "bob"
    assert AuditEvent.objects.filter(action="user.deleted", target_id=str(teammate.pk)).exists()
    assert "events verified" in _verify()


def test_relinking_an_event_to_another_user_is_found(
    chain: list[AuditEvent], teammate: Any
) -> None:
    _sql("UPDATE {table} SET actor_id = %s WHERE id = %s", [teammate.pk, chain[1].pk])
    with pytest.raises(CommandError, match=rf"#{chain[1].pk} .* links to user #{teammate.pk}"):
        _verify()


def test_a_forged_or_rolled_back_checkpoint_file_is_found(chain: list[AuditEvent]) -> None:
    write_checkpoint()
    audit.record(actor=None, action="test.later")
    write_checkpoint()
    path = Path(django_settings.AUDIT_CHECKPOINT_FILE)
    lines = path.read_text().splitlines()
    forged = json.loads(lines[1])
    forged["events"] -= 1
    path.write_text(lines[0] + "\n" + json.dumps(forged) + "\n")
    with pytest.raises(CommandError, match=r"line 2 was forged or damaged"):
        _verify()
    # Swapping the lines: the newer checkpoint counts more than the one after it.
    path.write_text(lines[1] + "\n" + lines[0] + "\n")
    with pytest.raises(CommandError, match=r"counts fewer events"):
        _verify()


def test_checkpoints_are_skipped_while_nothing_changes(chain: list[AuditEvent]) -> None:
    from portal.tasks import write_audit_checkpoint

    write_audit_checkpoint()
    write_audit_checkpoint()
    lines = Path(django_settings.AUDIT_CHECKPOINT_FILE).read_text().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["events"] == AuditEvent.objects.count()
    audit.record(actor=None, action="test.later")
    write_audit_checkpoint()
    assert len(Path(django_settings.AUDIT_CHECKPOINT_FILE).read_text().splitlines()) == 2
    output = _verify()
    assert "2 checkpoint(s) agree" in output and "0 newer event(s)" in output


def test_celery_beat_writes_checkpoints() -> None:
    schedule = django_settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"]
    assert schedule["task"] == "portal.tasks.write_audit_checkpoint"
    assert schedule["schedule"] == django_settings.AUDIT_CHECKPOINT_SECONDS


def test_a_checkpoint_reset_starts_verification_again(chain: list[AuditEvent]) -> None:
    write_checkpoint()
    _delete_from(chain[3])  # e.g. the database restored from an older backup
    with pytest.raises(CommandError, match="truncated"):
        _verify()
    call_command(
        "audit_checkpoint", "--reset", "restored from the backup of 1 December", stdout=StringIO()
    )
    assert "events verified" in _verify()
    reset = AuditEvent.objects.get(action="audit.checkpoints_reset")
    assert reset.details == {"reason": "restored from the backup of 1 December"}


def test_old_events_verify_under_a_rotated_key_kept_as_fallback(
    chain: list[AuditEvent],
    settings: Any,
) -> None:
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = OTHER_KEY
    settings.SECRET_KEY_FALLBACKS = [old_key]
    newer = audit.record(actor=None, action="test.under_new_key")
    assert newer.key_id != chain[0].key_id
    assert "events verified" in _verify()
    settings.SECRET_KEY_FALLBACKS = []  # the old key dropped too early
    with pytest.raises(CommandError, match=rf"#{chain[0].pk} .* not configured"):
        _verify()


def test_rechain_audit_re_signs_everything_under_the_current_key(
    chain: list[AuditEvent],
    settings: Any,
) -> None:
    write_checkpoint()
    settings.AUDIT_KEY = OTHER_KEY  # a dedicated audit key replaces the SECRET_KEY-derived one
    out = StringIO()
    call_command("rechain_audit", stdout=out)
    assert "Re-signed" in out.getvalue()
    current = signing_key().key_id
    assert set(AuditEvent.objects.values_list("key_id", flat=True)) == {current}
    rechained = AuditEvent.objects.get(action="audit.rechained")
    assert rechained.details["verified_before"] is True
    assert "events verified" in _verify()


def test_rechain_audit_refuses_a_tampered_log(chain: list[AuditEvent]) -> None:
    _sql("UPDATE {table} SET action = %s WHERE id = %s", ["test.tampered", chain[2].pk])
    with pytest.raises(CommandError, match="fails verification"):
        call_command("rechain_audit", stdout=StringIO())
    with pytest.raises(CommandError, match="was edited"):
        _verify()
    call_command("rechain_audit", "--force", stdout=StringIO())
    rechained = AuditEvent.objects.get(action="audit.rechained")
    assert rechained.details["verified_before"] is False
    assert any(f"#{chain[2].pk}" in problem for problem in rechained.details["problems_before"])


def test_an_overdue_checkpoint_is_pointed_out(chain: list[AuditEvent], settings: Any) -> None:
    write_checkpoint()
    assert "overdue" not in _verify()
    audit.record(actor=None, action="test.later")
    settings.AUDIT_CHECKPOINT_SECONDS = 10
    path = Path(settings.AUDIT_CHECKPOINT_FILE)
    line = json.loads(path.read_text())
    from portal.audit_chain import Checkpoint

    old = Checkpoint(**{**line, "at": "2020-01-01T00:00:00+00:00", "mac": ""})
    signed = {**line, "at": old.at, "mac": old.expected_mac(signing_key())}
    path.write_text(json.dumps(signed) + "\n")
    output = _verify()
    assert "1 newer event(s)" in output and "overdue: is Celery beat running?" in output
