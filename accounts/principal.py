"""Who the portal is in AWS: the principal a customer's role must trust."""

from __future__ import annotations

import re
from dataclasses import dataclass

from accounts.conf import PRINCIPAL_PLACEHOLDER, configured_principal_arn, portal_aws_settings
from analysis import aws

SETTING = "setting"
STS = "sts"
PLACEHOLDER = "placeholder"

_ASSUMED_ROLE = re.compile(
    r"^arn:(?P<partition>aws[\w-]*):sts::(?P<account>\d{12}):assumed-role/(?P<role>[\w+=,.@-]+)/"
)
_IAM_PRINCIPAL = re.compile(
    r"^arn:(?P<partition>aws[\w-]*):(?:iam|sts)::(?P<account>\d{12}):"
    r"(?P<kind>user|role)/(?P<name>[\w+=,.@/-]+)$"
)
_ROOT = re.compile(r"^arn:aws[\w-]*:iam::\d{12}:root$")


@dataclass(frozen=True)
class PortalPrincipal:
    """The ARN to put in trust policies, where it came from (`setting`, `sts`, `placeholder`)
    and a note for the person pasting it."""

    arn: str
    source: str
    note: str

    @property
    def is_placeholder(self) -> bool:
        return self.source == PLACEHOLDER


def trustable_arn(caller_arn: str) -> str | None:
    """The IAM ARN a trust policy names for the identity GetCallerIdentity reported: the role
    behind an assumed-role session, an IAM user, or an account root; None for anything else
    (federated users, web identities), which a role cannot trust by name."""
    if match := _ASSUMED_ROLE.match(caller_arn):
        return f"arn:{match['partition']}:iam::{match['account']}:role/{match['role']}"
    if match := _IAM_PRINCIPAL.match(caller_arn):
        return f"arn:{match['partition']}:iam::{match['account']}:{match['kind']}/{match['name']}"
    if _ROOT.match(caller_arn):
        return caller_arn
    return None


def portal_principal(aws_settings: aws.AwsSettings | None = None) -> PortalPrincipal:
    """`PORTAL_AWS_PRINCIPAL_ARN` when set; else the portal's own identity as
    sts:GetCallerIdentity reports it; else a placeholder, with a note saying why."""
    configured = configured_principal_arn()
    if configured:
        return PortalPrincipal(
            configured, SETTING, "The portal's principal, from PORTAL_AWS_PRINCIPAL_ARN."
        )
    try:
        identity = aws.portal_identity(aws_settings or portal_aws_settings())
    except aws.AwsError as exc:
        return PortalPrincipal(
            PRINCIPAL_PLACEHOLDER,
            PLACEHOLDER,
            f"The portal could not ask AWS who it is ({exc.code}: {exc.message}). Replace "
            f"{PRINCIPAL_PLACEHOLDER} with the ARN of the role or user the portal runs as, or "
            "set PORTAL_AWS_PRINCIPAL_ARN.",
        )
    arn = trustable_arn(identity["Arn"])
    if arn is None:
        return PortalPrincipal(
            PRINCIPAL_PLACEHOLDER,
            PLACEHOLDER,
            f"The portal runs as {identity['Arn']}, which a trust policy cannot name. Replace "
            f"{PRINCIPAL_PLACEHOLDER} with the role or user to trust, or set "
            "PORTAL_AWS_PRINCIPAL_ARN.",
        )
    note = f"The portal's own identity, as sts:GetCallerIdentity reports it ({identity['Arn']})."
    if arn != identity["Arn"]:
        note += (
            " AWS does not report a role's path: if the role has one, set "
            "PORTAL_AWS_PRINCIPAL_ARN to its full ARN."
        )
    return PortalPrincipal(arn, STS, note)
