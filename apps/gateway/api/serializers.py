from rest_framework import serializers

from apps.core.api import StrictSerializer

from ..models import ApiKey
from ..services import DEFAULT_RATE_PER_MINUTE, MAX_RATE_PER_MINUTE


class ApiKeySerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "consumer",
            "prefix",
            "rate_limit_per_minute",
            "active",
            "created_by",
            "created_at",
            "revoked_at",
        ]


class ApiKeyCreateSerializer(StrictSerializer):
    consumer = serializers.CharField(max_length=100, help_text="Who calls with the key (an application, a team).")
    rate_limit_per_minute = serializers.IntegerField(
        min_value=1, max_value=MAX_RATE_PER_MINUTE, default=DEFAULT_RATE_PER_MINUTE
    )


class ApiKeyCreatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    key = serializers.CharField(help_text="Shown this once: only its hash is stored.")
