from django.contrib import admin

from .models import ApiKey, CaptureCursor


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("consumer", "prefix", "endpoint", "rate_limit_per_minute", "created_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("consumer", "prefix", "endpoint__name")
    readonly_fields = ("key_hash", "prefix", "created_by", "revoked_by")


@admin.register(CaptureCursor)
class CaptureCursorAdmin(admin.ModelAdmin):
    """How far each endpoint's cloud capture has been read, and its last failure."""

    list_display = ("endpoint", "read_until", "rows", "pulled_at", "error")
    search_fields = ("endpoint__name",)
    readonly_fields = ("endpoint", "read_until", "complete_at", "rows", "pulled_at", "error")
