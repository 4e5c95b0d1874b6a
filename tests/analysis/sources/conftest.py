"""Fixtures for the log source tests: an isolated AWS environment, moto, and a client factory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from analysis import aws
from analysis.sources import ClientFactory

from .builders import REGION


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real credentials, profiles or endpoints can leak in."""
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
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


@pytest.fixture
def moto() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def clients(moto: None) -> ClientFactory:
    """The factory the portal passes to sources: analysis.aws clients (timeouts, retries)."""
    settings = aws.AwsSettings()
    session = aws.portal_session(settings)

    def make(service: str, region: str) -> Any:
        return aws.make_client(session, service, region, settings)

    return make


@pytest.fixture
def s3(moto: None) -> Any:
    """A client for setting up moto state (the code under test gets its own from `clients`)."""
    return boto3.client("s3", region_name=REGION)


@pytest.fixture
def logs(moto: None) -> Any:
    return boto3.client("logs", region_name=REGION)
