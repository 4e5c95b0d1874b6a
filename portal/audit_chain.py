"""The audit chain's keys, event hashes and the signed checkpoints kept outside the database.

Each audit event's hash is an HMAC-SHA256 over the previous event's hash and the event's
content, under a key the database does not hold: AUDIT_KEY when set, else a key derived from
SECRET_KEY (HKDF, bound to this use). Someone who can write to the database but does not hold
the key cannot recompute the hashes after an edit, an insertion or a deletion.

Each event records the id of the key that signed it (a fingerprint, not the key), so the key can
rotate: keys from AUDIT_KEY_FALLBACKS and SECRET_KEY_FALLBACKS (and SECRET_KEY itself once
AUDIT_KEY is set) still verify what they signed; `manage.py rechain_audit` re-signs everything
under the current key when an old one is to be dropped.

A chain alone cannot show that its newest events were deleted. So a signed checkpoint (event
count, newest event id and hash, time) is appended regularly (Celery beat) to a file under
DATA_DIR and written to the log; `verify_audit` compares the database with every checkpoint.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.utils import timezone

log = logging.getLogger("portal.audit")

# Bind each derived key to one use: nothing else derived from the same secret matches them.
_CHAIN_CONTEXT = b"flowportal audit chain v1"
_CHECKPOINT_CONTEXT = b"flowportal audit checkpoint v1"
_KEY_ID_CONTEXT = b"flowportal audit key id v1"

# The event fields the hash covers, besides the previous hash. The `actor` link is left out on
# purpose: deleting a user clears it, while the snapshot (actor_user_id, actor_name) stays.
HASHED_FIELDS = (
    "created_at",
    "actor_user_id",
    "actor_name",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "details",
    "client_ip",
    "user_agent",
    "api_token_id",
    "key_id",
)

# Without a new event, a checkpoint is still written this often, to show the log was watched.
CHECKPOINT_HEARTBEAT = timedelta(days=1)


class AuditKeyError(Exception):
    """An event or checkpoint signed by a key that is not configured."""


@dataclass(frozen=True)
class AuditKey:
    key_id: str
    source: str
    chain_secret: bytes = field(repr=False)
    checkpoint_secret: bytes = field(repr=False)


def _derive(material: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
        material.encode()
    )


@functools.lru_cache(maxsize=32)
def _key(material: str, source: str) -> AuditKey:
    return AuditKey(
        key_id=_derive(material, _KEY_ID_CONTEXT).hex()[:16],
        source=source,
        chain_secret=_derive(material, _CHAIN_CONTEXT),
        checkpoint_secret=_derive(material, _CHECKPOINT_CONTEXT),
    )


def signing_key() -> AuditKey:
    """The key new events and checkpoints are signed with."""
    audit_key: str = getattr(settings, "AUDIT_KEY", "") or ""
    if audit_key:
        return _key(audit_key, "AUDIT_KEY")
    return _key(settings.SECRET_KEY, "SECRET_KEY")


def verifying_keys() -> dict[str, AuditKey]:
    """Every key that may have signed an event, by key id: the current one and the former ones."""
    keys = [signing_key()]
    keys += [
        _key(material, f"AUDIT_KEY_FALLBACKS[{i}]")
        for i, material in enumerate(getattr(settings, "AUDIT_KEY_FALLBACKS", []) or [])
    ]
    keys.append(_key(settings.SECRET_KEY, "SECRET_KEY"))
    keys += [
        _key(material, f"SECRET_KEY_FALLBACKS[{i}]")
        for i, material in enumerate(getattr(settings, "SECRET_KEY_FALLBACKS", []) or [])
    ]
    found: dict[str, AuditKey] = {}
    for key in keys:
        found.setdefault(key.key_id, key)
    return found


def _canonical(content: Mapping[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=str).encode()


def event_content(event: Any) -> dict[str, Any]:
    """What an event's hash covers, read from a model instance (current or historical)."""
    content = {name: getattr(event, name) for name in HASHED_FIELDS}
    content["created_at"] = event.created_at.isoformat()
    content["prev"] = event.prev_hash
    return content


def event_hash(event: Any, key: AuditKey) -> str:
    return hmac.new(key.chain_secret, _canonical(event_content(event)), hashlib.sha256).hexdigest()


def legacy_event_hash(event: Any) -> str:
    """The unkeyed SHA-256 of events written before the chain was keyed (migration 0005)."""
    content = {
        "prev": event.prev_hash,
        "created_at": event.created_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_repr": event.target_repr,
        "details": event.details,
        "client_ip": event.client_ip,
        "api_token_id": event.api_token_id,
    }
    return hashlib.sha256(_canonical(content)).hexdigest()


def rechain(events: Iterator[Any], key: AuditKey) -> Iterator[tuple[str, str, str, int]]:
    """(prev_hash, hash, key_id, id) for each event, in chain order, signed anew under `key`."""
    previous = ""
    for event in events:
        event.prev_hash, event.key_id = previous, key.key_id
        event.hash = event_hash(event, key)
        previous = event.hash
        yield event.prev_hash, event.hash, event.key_id, event.pk


# --- Checkpoints -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """The state of the chain at one moment: `events` events, the newest being `head_id`."""

    events: int
    head_id: int
    head_hash: str
    at: str
    key_id: str
    # Set when earlier checkpoints no longer describe the log (re-signed, or restored from a
    # backup), with the reason; verification starts again from this checkpoint.
    reset: str = ""
    mac: str = ""

    def signed_content(self) -> dict[str, Any]:
        content = asdict(self)
        content.pop("mac")
        return content

    def expected_mac(self, key: AuditKey) -> str:
        return hmac.new(
            key.checkpoint_secret, _canonical(self.signed_content()), hashlib.sha256
        ).hexdigest()

    @property
    def time(self) -> datetime:
        return datetime.fromisoformat(self.at)


def checkpoint_file() -> Path:
    return Path(settings.AUDIT_CHECKPOINT_FILE)


@dataclass
class CheckpointLine:
    number: int
    checkpoint: Checkpoint | None
    problem: str = ""


def read_checkpoints(path: Path | None = None) -> list[CheckpointLine]:
    """Every line of the checkpoint file, each with its checkpoint or why it cannot be trusted."""
    path = path or checkpoint_file()
    if not path.exists():
        return []
    keys = verifying_keys()
    lines: list[CheckpointLine] = []
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                checkpoint = Checkpoint(**json.loads(text))
            except (ValueError, TypeError):
                lines.append(CheckpointLine(number, None, "is not a checkpoint"))
                continue
            key = keys.get(checkpoint.key_id)
            if key is None:
                lines.append(
                    CheckpointLine(
                        number,
                        None,
                        f"is signed with key id {checkpoint.key_id}, which is not configured",
                    )
                )
            elif not hmac.compare_digest(checkpoint.mac, checkpoint.expected_mac(key)):
                lines.append(
                    CheckpointLine(
                        number, None, "was forged or damaged: its signature does not match"
                    )
                )
            else:
                lines.append(CheckpointLine(number, checkpoint))
    return lines


def _last_checkpoint(path: Path) -> Checkpoint | None:
    """The file's last line, if it is a trusted checkpoint (read from the end: the file grows)."""
    if not path.exists():
        return None
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 8192))
        tail = handle.read().decode("utf-8", errors="replace").strip().splitlines()
    if not tail:
        return None
    try:
        checkpoint = Checkpoint(**json.loads(tail[-1]))
    except (ValueError, TypeError):
        return None
    key = verifying_keys().get(checkpoint.key_id)
    if key is None or not hmac.compare_digest(checkpoint.mac, checkpoint.expected_mac(key)):
        return None
    return checkpoint


def write_checkpoint(*, reset: str = "", force: bool = False) -> Checkpoint | None:
    """Append a signed checkpoint of the chain as it is now to the file and the log.

    Skipped (None) when nothing was added since the last one, unless a day has passed, `force`
    is set or `reset` gives a reason to start verification again from here."""
    from portal.models import AuditEvent

    head = AuditEvent.objects.order_by("-id").values("id", "hash").first()
    count = AuditEvent.objects.filter(id__lte=head["id"]).count() if head else 0
    path = checkpoint_file()
    last = _last_checkpoint(path)
    now = timezone.now()
    unchanged = (
        last is not None
        and last.head_id == (head["id"] if head else 0)
        and last.events == count
        and now - last.time < CHECKPOINT_HEARTBEAT
    )
    if unchanged and not force and not reset:
        return None
    key = signing_key()
    checkpoint = Checkpoint(
        events=count,
        head_id=head["id"] if head else 0,
        head_hash=head["hash"] if head else "",
        at=now.isoformat(),
        key_id=key.key_id,
        reset=reset[:500],
    )
    checkpoint = Checkpoint(**{**asdict(checkpoint), "mac": checkpoint.expected_mac(key)})
    line = json.dumps(asdict(checkpoint), sort_keys=True) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    log.info("audit checkpoint %s", line.strip())
    return checkpoint
