"""Forms for the integrations page: API tokens and webhooks."""

from __future__ import annotations

from django import forms

from portal.models import ApiToken, Webhook


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “Splunk pull”.")
    scopes = forms.MultipleChoiceField(choices=ApiToken.SCOPES, widget=forms.CheckboxSelectMultiple)
    expires_days = forms.IntegerField(
        label="Expires after (days)",
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Empty: never (revoke it when done).",
    )


class WebhookForm(forms.Form):
    name = forms.CharField(max_length=100)
    url = forms.URLField(max_length=500, label="URL", assume_scheme="https")
    events = forms.MultipleChoiceField(choices=Webhook.EVENTS, widget=forms.CheckboxSelectMultiple)
