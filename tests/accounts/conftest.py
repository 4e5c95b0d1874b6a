"""Fixtures for AWS account tests: moto in-process, a registered account, a customer role."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from analysis import aws

ACCOUNT = "123456789012"  # moto's default account
ROLE_NAME = "FlowLogPortalReader"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
REGION = "eu-west-1"
AMI = "ami-12c6146b"


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    """No real credentials, profiles or endpoints can leak in; the session cache starts empty."""
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "PORTAL_AWS_PROFILE",
        "PORTAL_AWS_PRINCIPAL_ARN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    aws.clear_session_cache()
    yield
    aws.clear_session_cache()


@pytest.fixture
def moto() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def aws_account(db: Any) -> Any:
    from accounts.models import AwsAccount

    return AwsAccount.objects.create(
        name="Production",
        account_id=ACCOUNT,
        role_arn=ROLE_ARN,
        regions=[REGION],
    )


def client(service: str, region: str = REGION) -> Any:
    """A boto3 client for setting up moto state (the code under test uses analysis.aws)."""
    return boto3.client(service, region_name=region)


def create_role(account: Any, *, principal_arn: str, policy: dict[str, Any]) -> str:
    """The customer's role: the portal's trust policy and the given permission policy."""
    from accounts.policies import trust_policy

    iam = client("iam")
    arn = iam.create_role(
        RoleName=ROLE_NAME,
        AssumeRolePolicyDocument=json.dumps(
            trust_policy(external_id=account.external_id, principal_arn=principal_arn)
        ),
    )["Role"]["Arn"]
    iam.put_role_policy(RoleName=ROLE_NAME, PolicyName="read", PolicyDocument=json.dumps(policy))
    return str(arn)


def assumed_roles() -> list[Any]:
    """What moto's STS recorded for every AssumeRole call."""
    from moto.sts.models import sts_backends

    return list(sts_backends[ACCOUNT]["aws"].assumed_roles)


def build_world(region: str = REGION) -> dict[str, Any]:
    """A VPC with a secondary and an IPv6 CIDR, two subnets, a two-interface web instance with a
    public and an IPv6 address, a db instance, and flow logs on the VPC (S3), the db's subnet
    (CloudWatch) and the web's second interface (CloudWatch)."""
    ec2, logs, s3, iam = (
        client("ec2", region),
        client("logs", region),
        client("s3", region),
        client("iam", region),
    )
    vpc = ec2.create_vpc(
        CidrBlock="10.0.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "main"}]}],
    )
    vpc_id = vpc["Vpc"]["VpcId"]
    ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock="10.1.0.0/16")
    ec2.associate_vpc_cidr_block(VpcId=vpc_id, AmazonProvidedIpv6CidrBlock=True)
    web_subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    db_subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.1.3.0/24")["Subnet"]["SubnetId"]

    web = ec2.run_instances(
        ImageId=AMI,
        MinCount=1,
        MaxCount=1,
        SubnetId=web_subnet,
        PrivateIpAddress="10.0.1.10",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]}],
    )["Instances"][0]
    web_eni = web["NetworkInterfaces"][0]["NetworkInterfaceId"]
    ec2.assign_private_ip_addresses(NetworkInterfaceId=web_eni, PrivateIpAddresses=["10.0.1.11"])
    ec2.assign_ipv6_addresses(NetworkInterfaceId=web_eni, Ipv6Addresses=["2400:6500:1:1::10"])
    eip = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=web["InstanceId"])
    second = ec2.create_network_interface(SubnetId=web_subnet, PrivateIpAddress="10.0.1.77")
    second_eni = second["NetworkInterface"]["NetworkInterfaceId"]
    ec2.attach_network_interface(
        NetworkInterfaceId=second_eni, InstanceId=web["InstanceId"], DeviceIndex=1
    )
    db = ec2.run_instances(
        ImageId=AMI,
        MinCount=1,
        MaxCount=1,
        SubnetId=db_subnet,
        PrivateIpAddress="10.1.3.30",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "db"}]}],
    )["Instances"][0]

    delivery = iam.create_role(RoleName="delivery", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    logs.create_log_group(logGroupName="/flow/subnets")
    logs.create_log_group(logGroupName="/flow/web-eni")
    s3.create_bucket(Bucket="flow-bucket", CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_object(
        Bucket="flow-bucket",
        Key=f"AWSLogs/{ACCOUNT}/vpcflowlogs/{region}/2026/01/01/x.log.gz",
        Body=b"x",
    )
    vpc_flow = ec2.create_flow_logs(
        ResourceIds=[vpc_id],
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="s3",
        LogDestination="arn:aws:s3:::flow-bucket",
    )["FlowLogIds"][0]
    subnet_flow = ec2.create_flow_logs(
        ResourceIds=[db_subnet],
        ResourceType="Subnet",
        TrafficType="ALL",
        LogGroupName="/flow/subnets",
        DeliverLogsPermissionArn=delivery,
        LogFormat="${version} ${interface-id} ${srcaddr} ${dstaddr} ${action}",
    )["FlowLogIds"][0]
    eni_flow = ec2.create_flow_logs(
        ResourceIds=[second_eni],
        ResourceType="NetworkInterface",
        TrafficType="REJECT",
        LogGroupName="/flow/web-eni",
        DeliverLogsPermissionArn=delivery,
    )["FlowLogIds"][0]
    return {
        "vpc_id": vpc_id,
        "web_subnet": web_subnet,
        "db_subnet": db_subnet,
        "web": web["InstanceId"],
        "web_eni": web_eni,
        "second_eni": second_eni,
        "public_ip": eip["PublicIp"],
        "db": db["InstanceId"],
        "vpc_flow": vpc_flow,
        "subnet_flow": subnet_flow,
        "eni_flow": eni_flow,
    }
