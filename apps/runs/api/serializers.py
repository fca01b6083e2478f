from rest_framework import serializers

from apps.accounts.models import Team
from apps.connections.models import Connection

from ..models import Run, RunEvent, RunKind


class RunEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunEvent
        fields = ["id", "created_at", "kind", "from_status", "to_status", "message"]


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
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class RunDetailSerializer(RunSerializer):
    events = serializers.SerializerMethodField()

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "events"]
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
