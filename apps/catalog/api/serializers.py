from rest_framework import serializers

from apps.accounts.models import Team
from apps.connections.api.serializers import ConnectionNameField
from apps.core.api import StrictSerializer

from ..models import Template, TemplateVersion


class TemplateSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    tags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    backends = serializers.ListField(source="backend_list", child=serializers.CharField(), read_only=True)
    version = serializers.IntegerField(source="current_version.number", read_only=True)

    class Meta:
        model = Template
        fields = ["slug", "name", "summary", "kind", "owner", "visibility", "backends", "tags", "version", "archived"]
        read_only_fields = fields


class TemplateVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = TemplateVersion
        fields = ["number", "checksum", "source", "created_by", "created_at", "spec"]
        read_only_fields = fields


class TemplateDetailSerializer(TemplateSerializer):
    current = TemplateVersionSerializer(source="current_version", read_only=True)

    class Meta(TemplateSerializer.Meta):
        fields = [*TemplateSerializer.Meta.fields, "description", "current"]
        read_only_fields = fields


class LaunchSerializer(StrictSerializer):
    """Shape only: the catalogue service validates the params against the template's schema."""

    params = serializers.DictField()
    backend = serializers.CharField(max_length=30, required=False, default="local")
    connection = ConnectionNameField()
    team = serializers.SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all(), required=False, default=None, allow_null=True
    )
    name = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class PlannedStepSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    key = serializers.CharField()
    name = serializers.CharField()
    action = serializers.CharField()
    inputs = serializers.DictField()
