"""Enumerations shared by AWS account models, services and the API."""

from django.db import models


class FlowLogDestination(models.TextChoices):
    CLOUDWATCH = "cloud-watch-logs", "CloudWatch Logs"
    S3 = "s3", "S3"
    FIREHOSE = "kinesis-data-firehose", "Kinesis Data Firehose"


class FlowLogResourceType(models.TextChoices):
    VPC = "VPC", "VPC"
    SUBNET = "Subnet", "Subnet"
    INTERFACE = "NetworkInterface", "Network interface"
    TRANSIT_GATEWAY = "TransitGateway", "Transit gateway"
    TRANSIT_GATEWAY_ATTACHMENT = "TransitGatewayAttachment", "Transit gateway attachment"
    OTHER = "Other", "Other"


class FlowLogFileFormat(models.TextChoices):
    TEXT = "plain-text", "Text"
    PARQUET = "parquet", "Parquet"


class DiscoveryStatus(models.TextChoices):
    OK = "ok", "OK"
    FAILED = "failed", "Failed"


# Which flow log covers an instance: the most specific resource wins.
COVERAGE_ORDER: tuple[str, ...] = (
    FlowLogResourceType.INTERFACE,
    FlowLogResourceType.SUBNET,
    FlowLogResourceType.VPC,
)

# How a flow-log destination is read by a run (values of investigations' RunSource).
RUN_SOURCE_OF_DESTINATION: dict[str, str] = {
    FlowLogDestination.CLOUDWATCH: "cloudwatch",
    FlowLogDestination.S3: "s3",
}
