from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.accounts.models import Team
from apps.connections.api.serializers import ConnectionNameField
from apps.core.api import StrictSerializer

from ..models import Run, RunEvent, RunKind, RunStep


class RunEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunEvent
        fields = ["id", "created_at", "kind", "step", "from_status", "to_status", "message"]


class PortalModelVersionSerializer(serializers.Serializer):
    """The portal's own page of a model version a run or step registered."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    version = serializers.CharField()
    url = serializers.CharField()


class ModelRefSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()


class LinkSerializer(serializers.Serializer):
    label = serializers.CharField()
    url = serializers.URLField()


class ModelVersionMixin:
    """``model_version``: looked up for the whole page at once (selectors.run_model_versions),
    passed in the context, so a list costs the same queries for 1 run or 100."""

    @extend_schema_field(PortalModelVersionSerializer(allow_null=True))
    def get_model_version(self, obj) -> dict | None:
        return (self.context.get("model_versions") or {}).get(obj.pk)


class RunStepSerializer(ModelVersionMixin, serializers.ModelSerializer):
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    model = serializers.SerializerMethodField()
    model_version = serializers.SerializerMethodField()
    links = LinkSerializer(many=True, read_only=True)

    @extend_schema_field(ModelRefSerializer(allow_null=True))
    def get_model(self, step) -> dict | None:
        """The version as the backend's registry names it."""
        return {"name": step.model_name, "version": step.model_version} if step.model_name else None

    class Meta:
        model = RunStep
        fields = [
            "id",
            "position",
            "key",
            "name",
            "action",
            "status",
            "status_message",
            "progress",
            "attempts",
            "external_id",
            "params",
            "outputs",
            "model",
            "model_version",
            "metrics",
            "links",
            "reused_from",
            "decided_by",
            "decided_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class StepDecisionSerializer(StrictSerializer):
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    comment = serializers.CharField(max_length=1000, required=False, default="", allow_blank=True)


class RunSerializer(ModelVersionMixin, serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    connection = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    model_version = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = [
            "id",
            "name",
            "kind",
            "backend",
            "connection",
            "team",
            "created_by",
            "status",
            "status_message",
            "progress",
            "attempts",
            "external_id",
            "params",
            "outputs",
            "model_version",
            "template_version",
            "retry_of",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class RunDetailSerializer(RunSerializer):
    events = serializers.SerializerMethodField()
    steps = RunStepSerializer(many=True, read_only=True)

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "steps", "events"]
        read_only_fields = fields

    @extend_schema_field(RunEventSerializer(many=True))
    def get_events(self, run) -> list[dict]:
        return RunEventSerializer(self.context["events"], many=True).data


class RunCreateSerializer(StrictSerializer):
    """Shape only; the run service checks the params (one place for the rules)."""

    kind = serializers.ChoiceField(choices=RunKind.choices)
    backend = serializers.CharField(max_length=30, required=False, default="local")
    connection = ConnectionNameField()
    params = serializers.DictField()
    name = serializers.CharField(
        max_length=200, required=False, default="", allow_blank=True, help_text="Blank: a name made from the params."
    )
    team = serializers.SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all(), required=False, default=None, allow_null=True
    )
