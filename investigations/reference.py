"""Reference tables: uploading versions (parsed by analysis.reference, all-or-nothing) and
turning the versions a run uses into analyzer parameters.

The AS database is the one site-wide kind: admins upload it (iptoasn.com ip2asn or GeoLite2-ASN
CSV), its latest version is stored as sorted ranges under GEO_DIR (analysis.geo), and every
run, entity page and address label places external addresses with it; runs do not pick it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from analysis import geo
from analysis.addresses import int_to_ip
from analysis.reference import (
    ReferenceTableError,
    parse_as_database,
    parse_cidr_table,
    parse_known_hosts,
    parse_lookup_table,
)
from investigations.choices import ReferenceKind
from investigations.models import ReferenceTable, ReferenceTableVersion
from portal import audit
from portal.roles import Role, user_roles

MAX_REFERENCE_BYTES = 50 * 1024 * 1024
PREVIEW_ROWS = 50


class ReferenceUploadRejected(ValueError):
    """The file cannot become a table version; the message names the line and the reason."""


def can_manage_reference_tables(user: Any) -> bool:
    return bool(user_roles(user) & {Role.ANALYST, Role.ADMIN})


def can_upload_kind(user: Any, kind: str) -> bool:
    """Analysts and admins upload tables; only admins the site-wide AS database."""
    if kind == ReferenceKind.AS_DATABASE:
        return Role.ADMIN in user_roles(user)
    return can_manage_reference_tables(user)


def can_publish_version(user: Any, table: ReferenceTable) -> bool:
    """The owner, an admin, or (when the owner shared it for editing) any analyst: a table an
    admin made cannot be silently replaced by whoever uploads under its name."""
    if not can_upload_kind(user, table.kind):
        return False
    if table.created_by_id == user.pk or Role.ADMIN in user_roles(user):
        return True
    return table.shared_editable


def can_change_sharing(user: Any, table: ReferenceTable) -> bool:
    return table.created_by_id == user.pk or Role.ADMIN in user_roles(user)


def set_shared_editable(
    *,
    user: Any,
    table: ReferenceTable,
    shared_editable: bool,
    client_ip: str | None = None,
    api_token_id: int | None = None,
) -> ReferenceTable:
    """The owner (or an admin) lets every analyst publish versions, or takes that back."""
    if not can_change_sharing(user, table):
        raise PermissionDenied("Only the table's owner or an admin changes who may edit it.")
    with transaction.atomic():
        table = ReferenceTable.objects.select_for_update().get(pk=table.pk)
        if table.shared_editable != shared_editable:
            table.shared_editable = shared_editable
            table.save(update_fields=["shared_editable", "updated_at"])
            audit.record(
                actor=user,
                action="reference_table.sharing_changed",
                target=table,
                details={"shared_editable": shared_editable},
                client_ip=client_ip,
                api_token_id=api_token_id,
            )
    return table


def _parse(kind: str, data: bytes) -> tuple[str, int, Any]:
    if kind == ReferenceKind.LOOKUP:
        entries = parse_lookup_table(data)
        return "csv", len(entries), [list(e.as_param()) for e in entries]
    if kind == ReferenceKind.CIDR:
        table = parse_cidr_table(data)
        return table.kind, len(table.entries), [[e.cidr, dict(e.labels)] for e in table.entries]
    if kind == ReferenceKind.KNOWN_HOSTS:
        hosts = parse_known_hosts(data)
        return "csv", len(hosts), hosts
    if kind == ReferenceKind.AS_DATABASE:
        return _store_as_database(data)
    raise ReferenceUploadRejected(f"Unknown kind of table: {kind!r}.")


def _store_as_database(data: bytes) -> tuple[str, int, Any]:
    """Parse an AS database and keep it as `<sha256>.parquet` under GEO_DIR; the version's
    data says which file and what it holds (its first ranges, for the table's page)."""
    parsed = parse_as_database(data)
    key = hashlib.sha256(data).hexdigest()
    path = geo.write_as_database(parsed, Path(settings.GEO_DIR), key, made=timezone.now().date())
    source = geo.AsDatabase.read_source(path)
    preview = [
        [f"{int_to_ip(r.lo)}-{int_to_ip(r.hi)}", r.asn, r.as_org, r.country or ""]
        for r in parsed.ranges[:PREVIEW_ROWS]
    ]
    return (
        parsed.file_format,
        len(parsed.ranges),
        {"file": path.name, "source": source.to_dict(), "preview": preview},
    )


def active_as_database() -> ReferenceTableVersion | None:
    """The AS database every run and page uses: the newest version uploaded to a table of
    that kind (there is one such table), or None."""
    return (
        ReferenceTableVersion.objects.filter(table__kind=ReferenceKind.AS_DATABASE)
        .select_related("table")
        .order_by("-uploaded_at", "-pk")
        .first()
    )


def as_database_path(version: ReferenceTableVersion | None = None) -> str:
    """The stored ranges file of `version` (default: the active AS database), or ""."""
    version = version if version is not None else active_as_database()
    if version is None or not isinstance(version.data, dict) or not version.data.get("file"):
        return ""
    return str(Path(settings.GEO_DIR) / str(version.data["file"]))


def open_as_database() -> geo.AsDatabase | None:
    """The active AS database, loaded once per process; None without one (or when its file
    is missing from GEO_DIR, which the page then does not claim to use)."""
    path = as_database_path()
    if not path:
        return None
    try:
        return geo.AsDatabase.open(path)
    except geo.GeoDataMissing:
        return None


def upload_reference_version(
    *,
    user: Any,
    kind: str,
    name: str,
    upload: Any,
    description: str = "",
    client_ip: str | None = None,
    api_token_id: int | None = None,
) -> ReferenceTableVersion:
    """Add a version to the table `name` (created on first upload). The whole file is checked
    before anything is written: a bad row rejects the upload with its line number."""
    if not can_manage_reference_tables(user):
        raise PermissionDenied("Only analysts and admins upload reference tables.")
    if not can_upload_kind(user, kind):
        raise PermissionDenied("Only admins upload the AS database.")
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_REFERENCE_BYTES:
        raise ReferenceUploadRejected(
            f"The file is {size:,} bytes; reference tables are limited to "
            f"{MAX_REFERENCE_BYTES:,} bytes."
        )
    data = upload.read(MAX_REFERENCE_BYTES + 1)
    if len(data) > MAX_REFERENCE_BYTES:
        raise ReferenceUploadRejected("The file is larger than the reference-table limit.")
    if not data.strip():
        raise ReferenceUploadRejected("The file is empty.")
    try:
        file_format, rows, parsed = _parse(kind, data)
    except ReferenceTableError as exc:
        where = f"Line {exc.line}: " if exc.line is not None else ""
        raise ReferenceUploadRejected(f"{where}{exc.reason}. Nothing was imported.") from exc
    with transaction.atomic():
        if kind == ReferenceKind.AS_DATABASE:
            other = (
                ReferenceTable.objects.filter(kind=kind).exclude(name=name).order_by("pk").first()
            )
            if other is not None:
                raise ReferenceUploadRejected(
                    f"There is one AS database, “{other.name}”: upload a new version of it."
                )
        table, created = ReferenceTable.objects.select_for_update().get_or_create(
            name=name, defaults={"kind": kind, "description": description, "created_by": user}
        )
        if not created and not can_publish_version(user, table):
            raise PermissionDenied(
                f"“{name}” belongs to {table.created_by.get_username()}: only they or an admin "
                "publish its versions (or anyone, once they share it for editing)."
            )
        if table.kind != kind:
            raise ReferenceUploadRejected(
                f"“{name}” is a {table.get_kind_display().lower()}, not a "
                f"{ReferenceKind(kind).label.lower()}."
            )
        if description and not created:
            table.description = description
            table.save(update_fields=["description", "updated_at"])
        number = (table.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = ReferenceTableVersion.objects.create(
            table=table,
            number=number,
            uploaded_by=user,
            original_name=str(getattr(upload, "name", "upload"))[:255],
            sha256=hashlib.sha256(data).hexdigest(),
            file_format=file_format,
            row_count=rows,
            data=parsed,
        )
        audit.record(
            actor=user,
            action="reference_table.version_uploaded",
            target=table,
            details={
                "version": number,
                "rows": rows,
                "format": file_format,
                "sha256": version.sha256,
                "file": version.original_name,
            },
            client_ip=client_ip,
            api_token_id=api_token_id,
        )
    return version


def latest_versions(tables: Iterable[ReferenceTable]) -> list[ReferenceTableVersion]:
    versions = []
    for table in tables:
        latest = table.latest
        if latest is None:
            raise ReferenceUploadRejected(f"“{table.name}” has no version yet.")
        versions.append(latest)
    return versions


def reference_params(versions: Iterable[ReferenceTableVersion]) -> dict[str, Any]:
    """The analyzer parameters for these table versions (several CIDR tables may be used; one
    lookup table and one known-hosts list)."""
    params: dict[str, Any] = {}
    for version in versions:
        kind = version.table.kind
        if kind == ReferenceKind.LOOKUP:
            if "lookup_table" in params:
                raise ReferenceUploadRejected("A run uses one lookup table at most.")
            params["lookup_table"] = [tuple(row) for row in version.data]
        elif kind == ReferenceKind.CIDR:
            params.setdefault("cidr_tables", []).append(
                {"name": version.table.name, "entries": version.data}
            )
        elif kind == ReferenceKind.KNOWN_HOSTS:
            if "known_hosts" in params:
                raise ReferenceUploadRejected("A run uses one known-hosts list at most.")
            params["known_hosts"] = dict(version.data)
        elif kind == ReferenceKind.AS_DATABASE:
            params["as_database"] = as_database_path(version)
    return params
