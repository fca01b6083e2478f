from datetime import timedelta

from django import forms
from django.utils import timezone

from apps.backends import registry as backend_registry
from apps.notifications.forms import WebhookForm

PERIODS = [("90", "Last 90 days"), ("30", "Last 30 days"), ("365", "Last 12 months"), ("month", "This month")]
STACKS = [("team", "Team"), ("backend", "Backend"), ("service", "Service"), ("project", "Project")]


class CostFilterForm(forms.Form):
    """The dashboard's filters: a period (or start and end), a team, a backend, what the spend is stacked by."""

    period = forms.ChoiceField(
        choices=PERIODS, required=False, initial="90", widget=forms.Select(attrs={"aria-label": "Period"})
    )
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date", "aria-label": "From"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date", "aria-label": "To"}))
    team = forms.ChoiceField(required=False, widget=forms.Select(attrs={"aria-label": "Team"}))
    backend = forms.ChoiceField(required=False, widget=forms.Select(attrs={"aria-label": "Backend"}))
    stack = forms.ChoiceField(choices=STACKS, required=False, widget=forms.Select(attrs={"aria-label": "Stacked by"}))

    def __init__(self, *args, teams=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [("", "All my teams")] + [(str(t.pk), t.name) for t in teams]
        self.fields["backend"].choices = [("", "Any backend")] + list(backend_registry.LABELS.items())

    def clean(self):
        data = super().clean()
        today = timezone.localdate()
        start, end = data.get("start"), data.get("end")
        if start or end:
            end = end or today
            start = start or end - timedelta(days=89)
            if start > end:
                self.add_error("end", "Must be on or after the start.")
            elif (end - start).days > 800:
                self.add_error("start", "At most about two years at a time.")
        elif data.get("period") == "month":
            start, end = today.replace(day=1), today
        else:
            end = today
            start = today - timedelta(days=int(data.get("period") or 90) - 1)
        data["start"], data["end"] = start, end
        data["stack"] = data.get("stack") or "team"
        return data


class BudgetForm(WebhookForm):
    team = forms.ChoiceField()
    project = forms.CharField(required=False, max_length=200, help_text="Blank: the whole team.")
    amount = forms.DecimalField(min_value=0.01, max_digits=14, decimal_places=2, label="Monthly amount (USD)")
    thresholds = forms.CharField(
        required=False,
        initial="50, 80, 100",
        help_text="Percentages of the amount that send an alert, e.g. 50, 80, 100.",
    )
    field_order = ["team", "project", "amount", "thresholds"]  # then the webhook's

    def __init__(self, *args, teams=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.teams = {str(t.pk): t for t in teams}
        self.fields["team"].choices = [(pk, t.name) for pk, t in self.teams.items()]

    def clean_thresholds(self):
        raw = self.cleaned_data.get("thresholds") or ""
        parts = [p.strip().rstrip("%") for p in raw.replace(";", ",").split(",") if p.strip()]
        try:
            return [int(p) for p in parts] or None
        except ValueError:
            raise forms.ValidationError("Whole percentages separated by commas, e.g. 50, 80, 100.") from None
