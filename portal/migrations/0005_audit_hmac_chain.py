"""The audit chain keyed (HMAC under a key outside the database, see portal.audit_chain), the
actor kept as a snapshot, and the user agent recorded. Existing events are re-signed here, in
order; an `audit.rechained` event records how many, and whether their old unkeyed chain was
intact when it was replaced."""

from typing import Any

from django.db import migrations, models
from django.utils import timezone

_UPDATE = (
    "UPDATE {table} SET actor_user_id = %s, prev_hash = %s, hash = %s, key_id = %s WHERE id = %s"
)


def _legacy_chain_break(events: list[Any]) -> int | None:
    from portal.audit_chain import legacy_event_hash

    previous = ""
    for event in events:
        if event.prev_hash != previous or legacy_event_hash(event) != event.hash:
            return int(event.pk)
        previous = event.hash
    return None


def rechain_keyed(apps: Any, schema_editor: Any) -> None:
    from portal.audit_chain import event_hash, rechain, signing_key

    AuditEvent = apps.get_model("portal", "AuditEvent")
    events = list(AuditEvent.objects.order_by("id"))
    if not events:
        return
    first_break = _legacy_chain_break(events)
    for event in events:
        event.actor_user_id = event.actor_id
    key = signing_key()
    rows = [
        (e.actor_user_id, prev, digest, key_id, pk)
        for e, (prev, digest, key_id, pk) in zip(events, rechain(iter(events), key), strict=True)
    ]
    with schema_editor.connection.cursor() as cursor:
        cursor.executemany(_UPDATE.format(table=AuditEvent._meta.db_table), rows)
    marker = AuditEvent(
        created_at=timezone.now(),
        actor_name="system",
        action="audit.rechained",
        details={
            "events": len(events),
            "legacy_chain_intact": first_break is None,
            "legacy_chain_first_break": first_break,
            "key_id": key.key_id,
            "reason": "the chain became keyed (migration portal 0005)",
        },
        prev_hash=events[-1].hash,
        key_id=key.key_id,
    )
    marker.hash = event_hash(marker, key)
    marker.save()


def rechain_legacy(apps: Any, schema_editor: Any) -> None:
    from portal.audit_chain import legacy_event_hash

    AuditEvent = apps.get_model("portal", "AuditEvent")
    previous, rows = "", []
    for event in AuditEvent.objects.order_by("id"):
        event.prev_hash = previous
        event.hash = previous = legacy_event_hash(event)
        rows.append((event.actor_id, event.prev_hash, event.hash, "", event.pk))
    with schema_editor.connection.cursor() as cursor:
        cursor.executemany(_UPDATE.format(table=AuditEvent._meta.db_table), rows)


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0004_sealed_webhook_secrets"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="actor_user_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="user_agent",
            field=models.CharField(blank=True, default="", max_length=255),
        ),
        migrations.RunPython(rechain_keyed, rechain_legacy),
    ]
