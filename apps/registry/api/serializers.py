from rest_framework import serializers

from apps.core.api import StrictSerializer

from ..models import ModelVersion, RegisteredModel


class AliasField(serializers.ListField):
    child = serializers.CharField()


class RegisteredModelSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    connection = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    aliases = serializers.SerializerMethodField()

    class Meta:
        model = RegisteredModel
        fields = [
            "id",
            "name",
            "backend",
            "connection",
            "team",
            "tags",
            "aliases",
            "latest_version_number",
            "latest_version_at",
            "latest_metrics",
            "version_count",
            "primary_metric",
            "primary_direction",
            "synced_at",
            "deleted_upstream",
        ]
        read_only_fields = fields

    def get_aliases(self, model) -> dict[str, str]:
        """alias -> version."""
        return dict(model.alias_pairs)


class RegisteredModelDetailSerializer(RegisteredModelSerializer):
    class Meta(RegisteredModelSerializer.Meta):
        fields = [*RegisteredModelSerializer.Meta.fields, "description"]
        read_only_fields = fields


class ModelVersionSerializer(serializers.ModelSerializer):
    model = serializers.PrimaryKeyRelatedField(read_only=True)
    aliases = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "model",
            "version",
            "aliases",
            "approval_status",
            "stage",
            "tags",
            "metrics",
            "artifact_uri",
            "source_run_id",
            "run",
            "created_by",
            "upstream_created_at",
            "archived",
            "deleted_upstream",
        ]
        read_only_fields = fields

    def get_aliases(self, version) -> list[str]:
        return version.alias_names


class ModelVersionDetailSerializer(ModelVersionSerializer):
    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "params", "input_schema", "dataset", "description"]
        read_only_fields = fields


class AliasSerializer(StrictSerializer):
    alias = serializers.CharField(max_length=63)


class TagSerializer(StrictSerializer):
    key = serializers.CharField(max_length=128)
    value = serializers.CharField(max_length=256, required=False, default="", allow_blank=True)


class TagKeySerializer(StrictSerializer):
    key = serializers.CharField(max_length=128)


class CellSerializer(serializers.Serializer):
    value = serializers.JSONField()
    mark = serializers.CharField()
    best = serializers.BooleanField()


class RowSerializer(serializers.Serializer):
    name = serializers.CharField()
    direction = serializers.CharField()
    differs = serializers.BooleanField()
    cells = CellSerializer(many=True)


class ComparisonSerializer(serializers.Serializer):
    versions = serializers.SerializerMethodField()
    metrics = RowSerializer(many=True)
    params = RowSerializer(many=True)

    def get_versions(self, comparison) -> list[str]:
        return [v.version for v in comparison.versions]
