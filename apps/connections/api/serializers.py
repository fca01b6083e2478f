from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import Connection
from ..selectors import CONNECTION_REFUSED


class ConnectionNameField(serializers.SlugRelatedField):
    """A connection by name in a request body. An unknown name reads exactly
    like a name the caller's team may not use (the run service checks that,
    with the same message), so no answer tells whether a name exists."""

    default_error_messages = {"does_not_exist": CONNECTION_REFUSED, "invalid": CONNECTION_REFUSED}

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("default", None)
        kwargs.setdefault("allow_null", True)
        super().__init__(slug_field="name", queryset=Connection.objects.all(), **kwargs)


class LastCheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField(allow_null=True, help_text="All checks passed; null if never checked.")
    at = serializers.DateTimeField(allow_null=True)


class ConnectionSerializer(serializers.ModelSerializer):
    """What a caller needs to pick a connection; never its settings' secrets."""

    teams = serializers.SerializerMethodField()
    last_check = serializers.SerializerMethodField()

    class Meta:
        model = Connection
        fields = ["id", "name", "kind", "is_sandbox", "teams", "last_check"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.SlugField()))
    def get_teams(self, connection) -> list[str]:
        return [team.slug for team in connection.teams.all()]  # prefetched: only the caller's teams

    @extend_schema_field(LastCheckSerializer)
    def get_last_check(self, connection) -> dict:
        return {"ok": connection.last_test_ok, "at": connection.last_test_at}
