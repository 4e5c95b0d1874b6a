"""Forms for AWS accounts; they check the shape of input, the model's validators the rest."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from accounts.models import AwsAccount

_SPLIT = re.compile(r"[\s,;]+")


class RegionsField(forms.CharField):
    """Region names typed as a comma- or space-separated list; stored as a JSON list."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return list(
            dict.fromkeys(item.strip().lower() for item in _SPLIT.split(text) if item.strip())
        )


class AwsAccountForm(forms.ModelForm):
    regions = RegionsField(
        widget=forms.TextInput(attrs={"placeholder": "eu-west-1, us-east-1"}),
        help_text="Regions to discover and read, separated by commas.",
    )

    class Meta:
        model = AwsAccount
        fields = [
            "name",
            "account_id",
            "role_arn",
            "regions",
            "notes",
            "athena_enabled",
            "athena_workgroup",
            "athena_output_location",
            "athena_database",
            "athena_scan_limit_bytes",
        ]
        widgets = {
            "account_id": forms.TextInput(
                attrs={"placeholder": "123456789012", "inputmode": "numeric"}
            ),
            "role_arn": forms.TextInput(
                attrs={"placeholder": "arn:aws:iam::123456789012:role/FlowLogPortalReader"}
            ),
            "notes": forms.Textarea(attrs={"rows": 3}),
            "athena_output_location": forms.TextInput(
                attrs={"placeholder": "s3://athena-results-bucket/flowlog-portal/"}
            ),
            "athena_scan_limit_bytes": forms.NumberInput(
                attrs={"placeholder": "100000000000", "min": 10_000_000}
            ),
        }
        help_texts = {
            "role_arn": "The role in this account that trusts the portal (policies below).",
        }
