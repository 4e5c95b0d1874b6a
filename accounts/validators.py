"""Validation of AWS identifiers with messages that say what is wrong and what is expected."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError

from analysis.athena.ddl import IDENTIFIER_RE
from analysis.aws import known_regions

ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
# arn:aws:iam::<account>:role/<optional/path/>name ; names use [\w+=,.@-], up to 64 characters.
ROLE_ARN_RE = re.compile(
    r"^arn:aws:iam::(?P<account>\d{12}):role/(?P<path>(?:[A-Za-z0-9_+=,.@-]+/)*)"
    r"(?P<name>[A-Za-z0-9_+=,.@-]{1,64})$"
)


def validate_account_id(value: str) -> None:
    if not ACCOUNT_ID_RE.match(value or ""):
        raise ValidationError(
            "An AWS account ID is exactly 12 digits, e.g. 123456789012 (got %(value)r).",
            code="account_id",
            params={"value": value},
        )


def role_arn_account(value: str) -> str | None:
    match = ROLE_ARN_RE.match(value or "")
    return match.group("account") if match else None


def validate_role_arn(value: str) -> None:
    if role_arn_account(value) is None:
        raise ValidationError(
            "A role ARN looks like arn:aws:iam::123456789012:role/FlowLogPortalReader "
            "(optionally with a path: role/path/name); got %(value)r.",
            code="role_arn",
            params={"value": value},
        )


def validate_regions(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("Regions must be a list of region names.", code="regions")
    if not value:
        raise ValidationError("Pick at least one region, e.g. eu-west-1.", code="regions")
    known = set(known_regions())
    unknown = [item for item in value if item not in known]
    if unknown:
        raise ValidationError(
            "Unknown region: %(unknown)s. Region names look like eu-west-1 or us-east-2.",
            code="regions",
            params={"unknown": ", ".join(unknown)},
        )
    if len(set(value)) != len(value):
        raise ValidationError("A region is listed twice.", code="regions")


# Athena: workgroup names are [a-zA-Z0-9._-]{1,128}; Glue database names lowercase.
ATHENA_WORKGROUP_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
S3_LOCATION_RE = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/[^\s]*)?$")
# Athena's smallest per-query cutoff; it also bills every query at least this much.
MIN_SCAN_LIMIT_BYTES = 10_000_000


def validate_athena_workgroup(value: str) -> None:
    if value and not ATHENA_WORKGROUP_RE.match(value):
        raise ValidationError(
            "An Athena workgroup name has 1 to 128 letters, digits, dots, dashes or "
            "underscores, e.g. primary (got %(value)r).",
            code="athena_workgroup",
            params={"value": value},
        )


def validate_athena_database(value: str) -> None:
    if value and not IDENTIFIER_RE.match(value):
        raise ValidationError(
            "An Athena database name has lowercase letters, digits and underscores only, "
            "e.g. flowlog_portal (got %(value)r).",
            code="athena_database",
            params={"value": value},
        )


def validate_s3_location(value: str) -> None:
    if value and not S3_LOCATION_RE.match(value):
        raise ValidationError(
            "An S3 location looks like s3://bucket-name/athena-results/ (got %(value)r).",
            code="s3_location",
            params={"value": value},
        )


def validate_scan_limit(value: int | None) -> None:
    if value is not None and value < MIN_SCAN_LIMIT_BYTES:
        raise ValidationError(
            "The scan limit is at least 10 MB (10000000 bytes), Athena's smallest "
            "billable query; got %(value)s.",
            code="athena_scan_limit",
            params={"value": value},
        )
