from django import forms

from .webhooks import MAX_URL_LENGTH, MIN_SECRET_LENGTH


class WebhookForm(forms.Form):
    """A webhook's two fields, the same on every page that sets one (a budget, a monitor); the
    rules are the services' (``webhooks.webhook_fields``), so a page and the API say the same.
    The secret is never rendered back: a blank one on a change keeps the stored one."""

    webhook_url = forms.CharField(
        required=False,
        max_length=MAX_URL_LENGTH,
        label="Webhook URL",
        help_text="Optional: alerts are also POSTed here, signed (X-Atrium-Signature: HMAC-SHA256 of "
        "“timestamp.body” under the secret). Blank: none.",
    )
    webhook_secret = forms.CharField(
        required=False,
        max_length=500,
        label="Webhook secret",
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=f"At least {MIN_SECRET_LENGTH} characters, shared with the receiver; stored encrypted and never "
        "shown again. On a change, blank keeps the current one.",
    )
