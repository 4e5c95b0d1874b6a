"""The portal's AWS settings, read from Django settings with the environment as fallback."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings

from analysis.aws import AwsSettings

PRINCIPAL_PLACEHOLDER = "arn:aws:iam::<PORTAL_ACCOUNT_ID>:role/<portal-role-name>"


def _setting(name: str, default: Any = None) -> Any:
    # Declared in portal/settings.py when set there; the environment works until then.
    value = getattr(settings, name, None)
    if value in (None, ""):
        value = os.environ.get(name, default)
    return value if value not in (None, "") else default


def portal_aws_settings() -> AwsSettings:
    """Profile (`PORTAL_AWS_PROFILE`), timeouts and retries. The endpoint is left to botocore,
    which reads `AWS_ENDPOINT_URL` itself (used with moto in tests and the demo)."""
    return AwsSettings(
        profile=_setting("PORTAL_AWS_PROFILE"),
        sts_region=_setting("PORTAL_AWS_STS_REGION", "us-east-1"),
        connect_timeout=float(_setting("PORTAL_AWS_CONNECT_TIMEOUT", 5)),
        read_timeout=float(_setting("PORTAL_AWS_READ_TIMEOUT", 30)),
        max_attempts=int(_setting("PORTAL_AWS_MAX_ATTEMPTS", 6)),
    )


def configured_principal_arn() -> str:
    """`PORTAL_AWS_PRINCIPAL_ARN`, or "" when it is not set."""
    return str(_setting("PORTAL_AWS_PRINCIPAL_ARN", ""))


def portal_principal_arn() -> str:
    """The configured principal, else the placeholder (accounts.principal also asks AWS)."""
    return configured_principal_arn() or PRINCIPAL_PLACEHOLDER
