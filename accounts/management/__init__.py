"""Management commands for AWS accounts."""
