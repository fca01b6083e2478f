from django.contrib import admin

from .models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("consumer", "prefix", "endpoint", "rate_limit_per_minute", "created_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("consumer", "prefix", "endpoint__name")
    readonly_fields = ("key_hash", "prefix", "created_by", "revoked_by")
