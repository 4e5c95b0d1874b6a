"""The customer's role, paste-ready: the portal's principal, CloudFormation and Terraform, and a
permission policy granting exactly what the connection test exercises (moto, IAM enforced)."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from moto.core import enable_iam_authentication

from accounts import services
from accounts.conf import PRINCIPAL_PLACEHOLDER
from accounts.models import AwsAccount
from accounts.principal import portal_principal, trustable_arn
from accounts.role_templates import role_setup_for
from analysis import aws
from tests.accounts.conftest import ACCOUNT, REGION, ROLE_ARN, ROLE_NAME, build_world, client
from tests.conftest import client_for

# IAM actions of the calls botocore makes, where they differ from the operation's name.
IAM_ACTION_OF_CALL = {"s3:ListObjectsV2": "s3:ListBucket"}


@pytest.fixture
def portal_user(moto: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """An IAM user standing for the portal, allowed only sts:AssumeRole on the customer's role;
    its keys become the portal's default credentials."""
    iam = client("iam")
    arn = iam.create_user(UserName="flowlog-portal")["User"]["Arn"]
    iam.put_user_policy(
        UserName="flowlog-portal",
        PolicyName="assume",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ROLE_ARN}
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName="flowlog-portal")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    return str(arn)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every AWS call made through analysis.aws clients, as `service:Operation`."""
    made: list[str] = []
    original = aws.make_client

    def recording_client(session: Any, service: str, region: str, settings: Any) -> Any:
        made_client = original(session, service, region, settings)
        prefix = made_client.meta.service_model.signing_name

        def record(model: Any, **_: Any) -> None:
            made.append(f"{prefix}:{model.name}")

        made_client.meta.events.register("before-call", record)
        return made_client

    monkeypatch.setattr(aws, "make_client", recording_client)
    yield made


def _actions(policy: dict[str, Any]) -> set[str]:
    return {action for statement in policy["Statement"] for action in statement["Action"]}


def _deploy(template: str, *, update: bool = False) -> dict[str, str]:
    """Create the stack from the template; return its outputs."""
    cloudformation = client("cloudformation")
    if update:
        cloudformation.delete_stack(StackName="flowlog-portal")
    cloudformation.create_stack(
        StackName="flowlog-portal", TemplateBody=template, Capabilities=["CAPABILITY_NAMED_IAM"]
    )
    (stack,) = cloudformation.describe_stacks(StackName="flowlog-portal")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    # moto's CloudFormation keeps a role's inline policy as Python's text of the document,
    # which its IAM enforcement cannot read: put the same document back through IAM as JSON.
    iam = client("iam")
    for name in iam.list_role_policies(RoleName=ROLE_NAME)["PolicyNames"]:
        kept = iam.get_role_policy(RoleName=ROLE_NAME, PolicyName=name)["PolicyDocument"]
        document = ast.literal_eval(kept) if isinstance(kept, str) else kept
        iam.put_role_policy(
            RoleName=ROLE_NAME, PolicyName=name, PolicyDocument=json.dumps(document)
        )
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def _heredocs(terraform: str) -> dict[str, Any]:
    """`attribute = <<-POLICY ... POLICY` blocks of a Terraform file, parsed as JSON."""
    found = re.findall(r"(\w+)\s*=\s*<<-POLICY\n(.*?)\n\s*POLICY\n", terraform, re.S)
    return {
        name: json.loads(body.replace("$${", "${").replace("%%{", "%{")) for name, body in found
    }


# ---------------------------------------------------------------- the portal's principal


@pytest.mark.parametrize(
    ("caller", "trusted"),
    [
        (
            f"arn:aws:sts::{ACCOUNT}:assumed-role/flowlog-portal/i-0abc",
            f"arn:aws:iam::{ACCOUNT}:role/flowlog-portal",
        ),
        (
            f"arn:aws-us-gov:sts::{ACCOUNT}:assumed-role/portal/botocore-session-1",
            f"arn:aws-us-gov:iam::{ACCOUNT}:role/portal",
        ),
        (
            f"arn:aws:iam::{ACCOUNT}:user/ops/flowlog-portal",
            f"arn:aws:iam::{ACCOUNT}:user/ops/flowlog-portal",
        ),
        (f"arn:aws:sts::{ACCOUNT}:user/moto", f"arn:aws:iam::{ACCOUNT}:user/moto"),
        (f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:iam::{ACCOUNT}:root"),
        (f"arn:aws:sts::{ACCOUNT}:federated-user/bob", None),
        ("not an arn", None),
    ],
)
def test_the_trusted_principal_is_the_role_behind_the_session(
    caller: str, trusted: str | None
) -> None:
    assert trustable_arn(caller) == trusted


@pytest.mark.django_db
def test_the_principal_comes_from_sts_and_the_setting_wins(
    portal_user: str, settings: Any, calls: list[str]
) -> None:
    settings.PORTAL_AWS_PRINCIPAL_ARN = ""
    principal = portal_principal()
    assert (principal.arn, principal.source) == (portal_user, "sts")
    assert portal_principal().arn == portal_user
    assert calls == ["sts:GetCallerIdentity"]  # remembered, not asked on every page

    settings.PORTAL_AWS_PRINCIPAL_ARN = "arn:aws:iam::999988887777:role/flowlog-portal"
    principal = portal_principal()
    assert (principal.arn, principal.source) == (settings.PORTAL_AWS_PRINCIPAL_ARN, "setting")


@pytest.mark.django_db
def test_without_any_identity_the_principal_is_a_placeholder_that_says_why(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.PORTAL_AWS_PRINCIPAL_ARN = ""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    principal = portal_principal()
    assert principal.is_placeholder and principal.arn == PRINCIPAL_PLACEHOLDER
    assert "could not ask AWS who it is" in principal.note
    assert "PORTAL_AWS_PRINCIPAL_ARN" in principal.note


# ---------------------------------------------------------------- the templates, deployed


@pytest.mark.django_db
def test_the_template_deploys_a_role_whose_policy_grants_exactly_what_the_test_checks(
    portal_user: str,
    admin_user: Any,
    aws_account: AwsAccount,
    settings: Any,
    calls: list[str],
) -> None:
    settings.PORTAL_AWS_PRINCIPAL_ARN = ""
    build_world()
    # The flow-log bucket encrypts with a customer key: S3 decrypts through KMS for the role.
    key = client("kms").create_key()["KeyMetadata"]["KeyId"]
    client("s3").put_object(
        Bucket="flow-bucket",
        Key=f"AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/2026/01/01/x.log.gz",
        Body=b"x",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=key,
    )

    # First the template before discovery (placeholders for log groups): enough to discover.
    first = role_setup_for(aws_account)
    assert first.principal.arn == portal_user and not first.has_destinations
    outputs = _deploy(first.cloudformation_yaml())
    assert outputs == {"RoleArn": ROLE_ARN, "ExternalId": aws_account.external_id}
    with enable_iam_authentication():
        assert services.refresh_discovery(user=admin_user, account=aws_account).ok

    # Then the template naming the discovered log groups and bucket.
    setup = role_setup_for(aws_account)
    assert setup.has_destinations and setup.notes() == []
    template = yaml.safe_load(setup.cloudformation_yaml())
    assert json.loads(setup.cloudformation_json()) == template
    role = template["Resources"]["FlowLogPortalRole"]
    assert role["Type"] == "AWS::IAM::Role"
    assert role["Properties"]["RoleName"] == ROLE_NAME
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": portal_user}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": aws_account.external_id}}
    (inline,) = role["Properties"]["Policies"]
    assert inline["PolicyDocument"] == setup.permission_policy
    _deploy(setup.cloudformation_yaml(), update=True)
    iam = client("iam")
    assert iam.get_role(RoleName=ROLE_NAME)["Role"]["AssumeRolePolicyDocument"] == (
        setup.trust_policy
    )
    assert (
        iam.get_role_policy(RoleName=ROLE_NAME, PolicyName="flowlog-portal-read")["PolicyDocument"]
        == setup.permission_policy
    )

    # The connection test with moto enforcing the deployed trust and permission policies.
    # moto judges CloudWatch Logs calls against the resource "*", which statements scoped to
    # log-group ARNs never match: only those checks may fail here, and only for that.
    with enable_iam_authentication():
        enforced = services.run_connection_test(user=admin_user, account=aws_account)
    failed = {c["check"] for c in enforced["checks"] if not c["ok"]}
    assert failed == {
        "logs:DescribeLogGroups",
        "logs:DescribeLogStreams",
        "logs:FilterLogEvents",
    }, enforced["checks"]

    # The same test without enforcement: every call it makes, against the policy's actions.
    calls.clear()
    result = services.run_connection_test(user=admin_user, account=aws_account)
    assert result["ok"] is True, result["checks"]
    checked = {c["check"] for c in result["checks"]}
    made = {IAM_ACTION_OF_CALL.get(call, call) for call in calls}
    # The portal's own identity assumes the role; GetCallerIdentity needs no permission.
    by_role = made - {"sts:AssumeRole", "sts:GetCallerIdentity"}
    # kms:Decrypt is no call of its own: S3 makes it when the role reads an SSE-KMS object,
    # and the connection test reports it when it read one.
    assert "kms:Decrypt" in checked
    assert _actions(setup.permission_policy) == by_role | {"kms:Decrypt"}
    assert checked == by_role | {"kms:Decrypt", "sts:AssumeRole", "sts:GetCallerIdentity"}
    targets = {(c["check"], c["target"]) for c in result["checks"]}
    assert ("logs:FilterLogEvents", "/flow/subnets") in targets
    assert (
        "s3:GetObject",
        f"s3://flow-bucket/AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/2026/01/01/x.log.gz",
    ) in targets


@pytest.mark.django_db
def test_terraform_holds_the_same_policies_and_names_the_role(
    aws_account: AwsAccount, settings: Any
) -> None:
    settings.PORTAL_AWS_PRINCIPAL_ARN = "arn:aws:iam::999988887777:role/flowlog-portal"
    AwsAccount.objects.filter(pk=aws_account.pk).update(
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/security/{ROLE_NAME}"
    )
    aws_account.refresh_from_db()
    setup = role_setup_for(aws_account)
    terraform = setup.terraform()
    documents = _heredocs(terraform)
    assert documents == {
        "assume_role_policy": setup.trust_policy,
        "policy": setup.permission_policy,
    }
    assert documents["assume_role_policy"]["Statement"][0]["Principal"] == {
        "AWS": "arn:aws:iam::999988887777:role/flowlog-portal"
    }
    assert f'name                 = "{ROLE_NAME}"' in terraform
    assert 'path                 = "/security/"' in terraform
    assert 'resource "aws_iam_role_policy" "flowlog_portal_read"' in terraform
    assert "role   = aws_iam_role.flowlog_portal.id" in terraform
    assert f"# External ID: {aws_account.external_id}" in terraform
    # Before discovery the log-group statement holds a placeholder, and both files say so.
    assert "<flow-log-group-name>" in json.dumps(documents["policy"])
    assert "No flow logs discovered yet" in terraform
    assert (
        "No flow logs discovered yet" in yaml.safe_load(setup.cloudformation_yaml())["Description"]
    )
    properties = yaml.safe_load(setup.cloudformation_yaml())["Resources"]["FlowLogPortalRole"][
        "Properties"
    ]
    assert properties["Path"] == "/security/" and properties["RoleName"] == ROLE_NAME


@pytest.mark.django_db
def test_a_placeholder_principal_is_flagged_in_every_format(
    aws_account: AwsAccount, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.PORTAL_AWS_PRINCIPAL_ARN = ""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    setup = role_setup_for(aws_account)
    assert setup.principal.is_placeholder
    for text in (setup.cloudformation_yaml(), setup.terraform()):
        assert PRINCIPAL_PLACEHOLDER in text
        assert "# NOTE: The portal could not ask AWS who it is" in text
    assert "could not ask AWS" in json.loads(setup.cloudformation_json())["Description"]


# ---------------------------------------------------------------- page, downloads, API


@pytest.mark.django_db
def test_admins_get_the_templates_with_copy_buttons_and_no_inline_script(
    admin_user: Any, analyst: Any, aws_account: AwsAccount, settings: Any
) -> None:
    settings.PORTAL_AWS_PRINCIPAL_ARN = "arn:aws:iam::999988887777:role/flowlog-portal"
    page = client_for(admin_user).get(f"/aws/{aws_account.pk}/").content.decode()
    for block in ("setup-cloudformation", "setup-terraform", "trust-policy", "permission-policy"):
        assert f'data-copy="{block}"' in page and f'id="{block}"' in page
    assert re.search(r'<script src="[^"]*js/copy\.js" defer></script>', page)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)  # CSP: no inline scripts
    assert " onclick=" not in page
    assert "AWSTemplateFormatVersion" in page and "aws_iam_role_policy" in page
    assert "arn:aws:iam::999988887777:role/flowlog-portal" in page

    other = client_for(analyst).get(f"/aws/{aws_account.pk}/").content.decode()
    assert "setup-terraform" not in other and 'id="trust-policy"' in other


@pytest.mark.django_db
def test_the_files_download_for_admins_only(
    admin_user: Any, analyst: Any, aws_account: AwsAccount, settings: Any
) -> None:
    settings.PORTAL_AWS_PRINCIPAL_ARN = "arn:aws:iam::999988887777:role/flowlog-portal"
    admin = client_for(admin_user)
    response = admin.get(f"/aws/{aws_account.pk}/setup/cloudformation/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="flowlog-portal-role-{ACCOUNT}.yaml"'
    )
    template = yaml.safe_load(response.content)
    assert template["Outputs"]["ExternalId"]["Value"] == aws_account.external_id
    as_json = admin.get(f"/aws/{aws_account.pk}/setup/cloudformation-json/")
    assert json.loads(as_json.content) == template
    terraform = admin.get(f"/aws/{aws_account.pk}/setup/terraform/")
    assert b'resource "aws_iam_role" "flowlog_portal"' in terraform.content
    assert admin.get(f"/aws/{aws_account.pk}/setup/pulumi/").status_code == 404
    assert client_for(analyst).get(f"/aws/{aws_account.pk}/setup/terraform/").status_code == 403


@pytest.mark.django_db
def test_the_api_gives_the_setup_to_admins(
    admin_user: Any, analyst: Any, aws_account: AwsAccount, settings: Any
) -> None:
    settings.PORTAL_AWS_PRINCIPAL_ARN = "arn:aws:iam::999988887777:role/flowlog-portal"
    admin = client_for(admin_user)
    url = f"/api/v1/accounts/{aws_account.pk}/setup/"
    body = admin.get(url).json()
    assert body["principal"] == "arn:aws:iam::999988887777:role/flowlog-portal"
    assert body["principal_source"] == "setting"
    assert body["external_id"] == aws_account.external_id
    assert (
        yaml.safe_load(body["cloudformation_yaml"])["Resources"]["FlowLogPortalRole"]["Properties"][
            "Policies"
        ][0]["PolicyDocument"]
        == body["permission_policy"]
    )
    assert _heredocs(body["terraform"])["policy"] == body["permission_policy"]
    terraform = admin.get(f"{url}?format=terraform")
    assert terraform.status_code == 200 and terraform["Content-Type"].startswith("text/plain")
    assert _heredocs(terraform.content.decode())["assume_role_policy"] == body["trust_policy"]
    assert (
        yaml.safe_load(admin.get(f"{url}?format=cloudformation").content)[
            "AWSTemplateFormatVersion"
        ]
        == "2010-09-09"
    )
    assert admin.get(f"{url}?format=pulumi").status_code == 400
    assert client_for(analyst).get(url).status_code == 403
