"""The customer's role as paste-ready infrastructure code: CloudFormation (YAML or JSON) and
Terraform (HCL), with the portal's principal, the external ID and the permission policy."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from typing import Any

import yaml

from accounts.policies import account_permission_policy, trust_policy
from accounts.principal import PortalPrincipal, portal_principal
from accounts.validators import ROLE_ARN_RE

ROLE_RESOURCE = "FlowLogPortalRole"
POLICY_NAME = "flowlog-portal-read"
ROLE_DESCRIPTION = "Read-only access for the Flow Log Portal (VPC flow logs and discovery)"
MAX_SESSION_SECONDS = 3600
FORMATS = {
    # name: (content type, file extension)
    "cloudformation": ("application/yaml", "yaml"),
    "cloudformation-json": ("application/json", "json"),
    "terraform": ("text/plain", "tf"),
}


@dataclass(frozen=True)
class RoleSetup:
    """Everything the customer pastes to create the portal's role in their account."""

    account_name: str
    account_id: str
    role_name: str
    role_path: str
    external_id: str
    principal: PortalPrincipal
    trust_policy: dict[str, Any]
    permission_policy: dict[str, Any]
    has_destinations: bool

    def notes(self) -> list[str]:
        notes = []
        if self.principal.is_placeholder:
            notes.append(self.principal.note)
        if not self.has_destinations:
            notes.append(
                "No flow logs discovered yet: the log-group statement holds a placeholder. "
                "Create the role, refresh discovery, then update it with the new template."
            )
        return notes

    def cloudformation(self) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "RoleName": self.role_name,
            "Description": ROLE_DESCRIPTION,
            "MaxSessionDuration": MAX_SESSION_SECONDS,
            "AssumeRolePolicyDocument": self.trust_policy,
            "Policies": [{"PolicyName": POLICY_NAME, "PolicyDocument": self.permission_policy}],
        }
        if self.role_path != "/":
            properties["Path"] = self.role_path
        description = f"Flow Log Portal read-only role for {self.account_name}"
        if self.notes():
            description += ". Before deploying: " + " ".join(self.notes())
        return {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": description,
            "Resources": {ROLE_RESOURCE: {"Type": "AWS::IAM::Role", "Properties": properties}},
            "Outputs": {
                "RoleArn": {
                    "Description": "Register this ARN in the portal.",
                    "Value": {"Fn::GetAtt": [ROLE_RESOURCE, "Arn"]},
                },
                "ExternalId": {"Value": self.external_id},
            },
        }

    def cloudformation_yaml(self) -> str:
        header = "".join(f"# {line}\n" for line in self._comment_lines())
        body = yaml.safe_dump(
            self.cloudformation(), sort_keys=False, width=100, default_flow_style=False
        )
        return header + body

    def cloudformation_json(self) -> str:
        return json.dumps(self.cloudformation(), indent=2) + "\n"

    def terraform(self) -> str:
        header = "".join(f"# {line}\n" for line in self._comment_lines())
        path = f"  path                 = {_hcl_string(self.role_path)}\n"
        return (
            f"{header}\n"
            'resource "aws_iam_role" "flowlog_portal" {\n'
            f"  name                 = {_hcl_string(self.role_name)}\n"
            f"{path}"
            f"  description          = {_hcl_string(ROLE_DESCRIPTION)}\n"
            f"  max_session_duration = {MAX_SESSION_SECONDS}\n"
            f"  assume_role_policy   = {_heredoc(self.trust_policy)}\n"
            "}\n\n"
            'resource "aws_iam_role_policy" "flowlog_portal_read" {\n'
            f"  name   = {_hcl_string(POLICY_NAME)}\n"
            "  role   = aws_iam_role.flowlog_portal.id\n"
            f"  policy = {_heredoc(self.permission_policy)}\n"
            "}\n\n"
            'output "flowlog_portal_role_arn" {\n'
            '  description = "Register this ARN in the portal."\n'
            "  value       = aws_iam_role.flowlog_portal.arn\n"
            "}\n"
        )

    def render(self, fmt: str) -> str:
        """One of FORMATS; KeyError for anything else."""
        renderers = {
            "cloudformation": self.cloudformation_yaml,
            "cloudformation-json": self.cloudformation_json,
            "terraform": self.terraform,
        }
        return renderers[fmt]()

    def filename(self, fmt: str) -> str:
        return f"flowlog-portal-role-{self.account_id}.{FORMATS[fmt][1]}"

    def _comment_lines(self) -> list[str]:
        lines = [
            f"Flow Log Portal: read-only role for {self.account_name} ({self.account_id}).",
            f"Trusted principal: {self.principal.arn}",
            f"External ID: {self.external_id}",
        ]
        for note in self.notes():
            lines += textwrap.wrap(
                f"NOTE: {note}",
                width=96,
                subsequent_indent="  ",
                break_long_words=False,
                break_on_hyphens=False,
            )
        return lines


def _hcl_string(value: str) -> str:
    """A quoted HCL string: JSON's escapes, plus template sequences made literal."""
    return json.dumps(value).replace("${", "$${").replace("%{", "%%{")


def _heredoc(document: dict[str, Any]) -> str:
    """The policy as pretty JSON in an indented heredoc (Terraform strips the indent);
    template sequences made literal so Terraform reads the JSON exactly."""
    text = json.dumps(document, indent=2).replace("${", "$${").replace("%{", "%%{")
    body = "".join(f"    {line}\n" for line in text.splitlines())
    return f"<<-POLICY\n{body}  POLICY"


def role_setup_for(account: Any, *, principal: PortalPrincipal | None = None) -> RoleSetup:
    """The role setup of a registered account, using what discovery found."""
    chosen = principal or portal_principal()
    match = ROLE_ARN_RE.match(account.role_arn)
    name = match["name"] if match else account.role_arn.rsplit("/", 1)[-1]
    path = "/" + match["path"] if match else "/"
    policy, _has_s3, has_destinations = account_permission_policy(account)
    return RoleSetup(
        account_name=account.name,
        account_id=account.account_id,
        role_name=name,
        role_path=path,
        external_id=account.external_id,
        principal=chosen,
        trust_policy=trust_policy(external_id=account.external_id, principal_arn=chosen.arn),
        permission_policy=policy,
        has_destinations=has_destinations,
    )
