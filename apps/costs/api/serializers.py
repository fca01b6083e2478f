from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers

from apps.accounts.models import Team
from apps.connections.models import Connection
from apps.core.api import StrictSerializer

from ..models import Budget
from ..selectors import GRANULARITIES, GROUPS

MAX_QUERY_DAYS = 800


class CostQuerySerializer(serializers.Serializer):
    """?group_by=team,model&start=&end=&granularity=day|month&estimate=include|exclude&team=&backend=&project="""

    group_by = serializers.CharField(required=False, default="team")
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)
    granularity = serializers.ChoiceField(choices=GRANULARITIES, required=False, default="day")
    estimate = serializers.ChoiceField(choices=["include", "exclude"], required=False, default="include")
    team = serializers.SlugField(required=False, help_text="A team's slug.")
    backend = serializers.CharField(required=False, max_length=30)
    project = serializers.CharField(required=False, max_length=200)
    endpoint = serializers.CharField(required=False, max_length=100)

    def validate_group_by(self, value):
        names = [v.strip() for v in value.split(",") if v.strip()]
        unknown = [n for n in names if n not in GROUPS]
        if unknown or not names:
            raise serializers.ValidationError(f"Comma-separated, from: {', '.join(GROUPS)}.")
        if len(names) > 3 or len(set(names)) != len(names):
            raise serializers.ValidationError("At most three different names.")
        return names

    def validate(self, data):
        today = timezone.localdate()
        end = data.get("end") or today
        start = data.get("start") or end - timedelta(days=29)
        if start > end:
            raise serializers.ValidationError({"end": ["Must be on or after start."]})
        if (end - start).days >= MAX_QUERY_DAYS:
            raise serializers.ValidationError({"start": [f"At most {MAX_QUERY_DAYS} days at a time."]})
        data["start"], data["end"] = start, end
        return data


class BackfillSerializer(StrictSerializer):
    start = serializers.DateField()
    end = serializers.DateField()
    connection = serializers.PrimaryKeyRelatedField(queryset=Connection.objects.all(), required=False, allow_null=True)
    force = serializers.BooleanField(required=False, default=False)

    def to_internal_value(self, data):
        if hasattr(data, "dict"):  # a page's form: an empty select means every connection
            data = {k: v for k, v in data.dict().items() if k != "csrfmiddlewaretoken" and v != ""}
        return super().to_internal_value(data)


class BudgetSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    team_name = serializers.CharField(source="team.name", read_only=True)
    thresholds = serializers.ListField(child=serializers.IntegerField(), source="levels", read_only=True)
    actual = serializers.SerializerMethodField()
    forecast = serializers.SerializerMethodField()
    forecast_method = serializers.SerializerMethodField()
    other_currencies = serializers.SerializerMethodField(
        help_text="This month's spend in other currencies than the budget's: not counted in it (never converted)."
    )
    has_webhook_secret = serializers.SerializerMethodField(help_text="A secret is set (it is never shown).")

    class Meta:
        model = Budget
        fields = [
            "id",
            "team",
            "team_name",
            "project",
            "amount",
            "currency",
            "thresholds",
            "actual",
            "forecast",
            "forecast_method",
            "other_currencies",
            "webhook_url",
            "has_webhook_secret",
            "created_at",
            "updated_at",
        ]

    def _status(self, budget):
        return (self.context.get("statuses") or {}).get(budget.pk)

    def get_actual(self, budget) -> str | None:
        s = self._status(budget)
        return str(s.actual) if s else None

    def get_forecast(self, budget) -> str | None:
        s = self._status(budget)
        return str(s.forecast) if s else None

    def get_other_currencies(self, budget) -> list[dict[str, str]]:
        s = self._status(budget)
        return [{"currency": c, "amount": str(a)} for c, a in s.other_currencies] if s else []

    def get_has_webhook_secret(self, budget) -> bool:
        return bool(budget.webhook_secret)

    def get_forecast_method(self, budget) -> str | None:
        s = self._status(budget)
        return s.method if s else None


def webhook_url_field():
    return serializers.CharField(required=False, allow_blank=True, max_length=500, help_text="Blank: none.")


def webhook_secret_field():
    return serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=500,
        write_only=True,
        trim_whitespace=False,
        help_text="Shared with the receiver, at least 16 characters; stored encrypted, never shown again.",
    )


# Functions rather than a shared base serializer: a base's fields would come first in the schema.
class BudgetCreateSerializer(StrictSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all())
    project = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    thresholds = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=10)
    webhook_url = webhook_url_field()
    webhook_secret = webhook_secret_field()


class BudgetUpdateSerializer(StrictSerializer):
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, required=False)
    thresholds = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=10)
    webhook_url = webhook_url_field()
    webhook_secret = webhook_secret_field()


class CostRowSerializer(serializers.Serializer):
    period = serializers.DateField(help_text="The day, or the first of the month.")
    currency = serializers.CharField()
    amount = serializers.CharField(help_text="A decimal string.")
    estimate = serializers.BooleanField(help_text="Part of it is still an estimate.")
    team = serializers.CharField(required=False)
    project = serializers.CharField(required=False)
    backend = serializers.CharField(required=False)
    service = serializers.CharField(required=False)
    model = serializers.CharField(required=False)
    model_version = serializers.CharField(required=False)
    endpoint = serializers.CharField(required=False)
    run = serializers.CharField(required=False)


class CostListSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    granularity = serializers.CharField()
    group_by = serializers.ListField(child=serializers.CharField())
    estimate = serializers.CharField()
    results = CostRowSerializer(many=True)


class PerPredictionRowSerializer(serializers.Serializer):
    endpoint = serializers.CharField()
    cost = serializers.CharField()
    requests = serializers.IntegerField()
    cost_per_1000 = serializers.CharField(allow_null=True)
    idle = serializers.BooleanField()


class PerPredictionSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    results = PerPredictionRowSerializer(many=True)


class BackfillStartedSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    connection_ids = serializers.ListField(child=serializers.CharField())
    local = serializers.BooleanField()
    force = serializers.BooleanField()
    days = serializers.IntegerField()


class PerVersionRowSerializer(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.CharField()
    training = serializers.CharField()
    tuning = serializers.CharField()
    batch = serializers.CharField()
    serving = serializers.CharField()
    total = serializers.CharField()


class PerVersionSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    rule = serializers.CharField()
    unattributed = serializers.CharField()
    results = PerVersionRowSerializer(many=True)
