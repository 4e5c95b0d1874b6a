"""Validation of AWS identifiers with messages that say what is wrong and what is expected."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError

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
