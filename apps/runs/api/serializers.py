from rest_framework import serializers

from apps.accounts.models import Team
from apps.connections.models import Connection

from ..models import Run, RunEvent, RunKind, RunStep


class RunEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunEvent
        fields = ["id", "created_at", "kind", "step", "from_status", "to_status", "message"]


class RunStepSerializer(serializers.ModelSerializer):
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

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
            "reused_from",
            "decided_by",
            "decided_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class StepDecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    comment = serializers.CharField(max_length=1000, required=False, default="", allow_blank=True)


class RunSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    connection = serializers.SlugRelatedField(slug_field="name", read_only=True)

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

    def get_events(self, run) -> list[dict]:
        return RunEventSerializer(self.context["events"], many=True).data


class RunCreateSerializer(serializers.Serializer):
    """Shape only; the run service checks the params (one place for the rules)."""

    kind = serializers.ChoiceField(choices=RunKind.choices)
    backend = serializers.CharField(max_length=30, required=False, default="local")
    connection = serializers.SlugRelatedField(
        slug_field="name", queryset=Connection.objects.all(), required=False, default=None, allow_null=True
    )
    params = serializers.DictField()
    name = serializers.CharField(max_length=200, required=False, default="")
    team = serializers.SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all(), required=False, default=None, allow_null=True
    )
