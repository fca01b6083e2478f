from rest_framework import serializers

from apps.connections.api.serializers import ConnectionNameField
from apps.core.api import StrictSerializer

from ..hardware import HOURS_PER_MONTH
from ..models import Endpoint, EndpointEvent, Variant


class VariantSerializer(serializers.ModelSerializer):
    weight = serializers.SerializerMethodField()
    model_version_url = serializers.SerializerMethodField()

    class Meta:
        model = Variant
        fields = [
            "name",
            "model_name",
            "model_version",
            "model_version_url",
            "target",
            "instance_type",
            "instance_count",
            "weight",
        ]

    def get_weight(self, variant) -> int:
        return variant.endpoint.weights.get(variant.name, 0)

    def get_model_version_url(self, variant) -> str:
        return getattr(variant, "version_url", "")


class VariantDetailSerializer(VariantSerializer):
    """A variant with its hardware and what it costs (``apps/deployments/hardware.py``)."""

    hardware = serializers.SerializerMethodField()

    class Meta(VariantSerializer.Meta):
        fields = [*VariantSerializer.Meta.fields, "hardware"]

    def get_hardware(self, variant) -> dict:
        found = getattr(variant, "hardware", None)
        if found is None:
            return {}
        price = found.price
        return {
            "instance_type": found.instance_type or None,
            "instance_count": found.instance_count,
            "price_known": price is not None,
            "currency": price.currency if price else None,
            "price_per_instance_hour": price.amount if price else None,
            "price_per_hour": _rounded(found.per_hour, 4),
            "price_per_month": _rounded(found.per_month, 2),
            "hours_per_month": HOURS_PER_MONTH,
            "price_source": price.source if price else None,
            "price": f"{found.hour_label}, {found.month_label}" if price else "price unknown",
        }


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


class EndpointSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    connection = serializers.SerializerMethodField()
    variants = VariantSerializer(many=True, read_only=True)
    rollout_run = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    address = serializers.SerializerMethodField()

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "name",
            "team",
            "backend",
            "connection",
            "state",
            "message",
            "weights",
            "variants",
            "rollout_run",
            "address",
            "discovered",
            "created_at",
            "updated_at",
        ]

    def get_connection(self, endpoint) -> str | None:
        return endpoint.connection.name if endpoint.connection_id else None

    def get_address(self, endpoint) -> str:
        return f"/serve/{endpoint.name}/invocations"


class StageSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    progress = serializers.FloatField()
    message = serializers.CharField(source="status_message")
    verdict = serializers.SerializerMethodField()

    def get_verdict(self, step) -> dict | None:
        return step.outputs.get("figures") if isinstance(step.outputs, dict) else None


class FiguresSerializer(serializers.Serializer):
    variant = serializers.CharField()
    requests = serializers.IntegerField()
    errors = serializers.IntegerField()
    client_errors = serializers.IntegerField()
    error_rate = serializers.FloatField(allow_null=True)
    mean_ms = serializers.FloatField(allow_null=True)
    p50_ms = serializers.FloatField(allow_null=True)
    p95_ms = serializers.FloatField(allow_null=True)
    p99_ms = serializers.FloatField(allow_null=True)


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = EndpointEvent
        fields = ["at", "kind", "actor", "automatic", "message", "weights", "run"]


class EndpointDetailSerializer(EndpointSerializer):
    variants = VariantDetailSerializer(many=True, read_only=True)
    rollout = serializers.SerializerMethodField()
    last_hour = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "rollout", "last_hour", "history"]

    def get_rollout(self, endpoint) -> dict | None:
        run = endpoint.rollout_run
        if run is None:
            return None
        guarded = run.params.get("guardrails")
        return {
            "run": str(run.pk),
            "status": run.status,
            # who shifts the traffic and rolls back: the portal's stages, or the cloud's guardrails
            "run_by": "native" if guarded else "portal",
            "label": guarded["label"] if guarded else "Atrium's rollout controller",
            "alarms": guarded["alarms"] if guarded else [],
            "stages": StageSerializer(self.context.get("steps", []), many=True).data,
        }

    def get_last_hour(self, endpoint) -> list[dict]:
        figures = self.context.get("figures", {})
        return FiguresSerializer(
            [{"variant": name, **vars(f), "error_rate": f.error_rate} for name, f in figures.items()], many=True
        ).data

    def get_history(self, endpoint) -> list[dict]:
        return EventSerializer(self.context.get("history", []), many=True).data


class RolloutSerializer(StrictSerializer):
    strategy = serializers.ChoiceField(choices=["all_at_once", "canary", "linear", "blue_green"], default="all_at_once")
    percent = serializers.IntegerField(min_value=1, max_value=99, required=False)
    bake_seconds = serializers.IntegerField(min_value=0, required=False)
    step_percent = serializers.IntegerField(min_value=1, max_value=50, required=False)
    interval_seconds = serializers.IntegerField(min_value=0, required=False)
    termination_wait_seconds = serializers.IntegerField(min_value=0, required=False)
    thresholds = serializers.DictField(child=serializers.FloatField(min_value=0, allow_null=True), required=False)


class DeploySerializer(StrictSerializer):
    endpoint = serializers.CharField(max_length=63)
    model_name = serializers.CharField(max_length=500)
    model_version = serializers.CharField(max_length=50)
    backend = serializers.CharField(max_length=30, required=False, default="local")
    connection = ConnectionNameField()
    target = serializers.ChoiceField(choices=["cpu", "gpu", "inferentia"], default="cpu")
    instance_type = serializers.CharField(max_length=100, required=False, default="")
    instance_count = serializers.IntegerField(min_value=1, max_value=100, default=1)
    rollout = RolloutSerializer(required=False)


class TrafficSerializer(StrictSerializer):
    weights = serializers.DictField(child=serializers.IntegerField(min_value=0, max_value=100))


class MetricsQuerySerializer(StrictSerializer):
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)
