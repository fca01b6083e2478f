from django.contrib import admin

from .models import Connection


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    """Read-only here: connections are edited in the portal, where secrets are
    encrypted and never shown back."""

    list_display = ["name", "kind", "is_sandbox", "last_test_at"]
    exclude = ["secrets_ciphertext"]
    readonly_fields = ["name", "kind", "config", "is_sandbox", "created_by", "last_test_at", "last_test_report"]

    def has_add_permission(self, request):
        return False
