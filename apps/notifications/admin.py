from django.contrib import admin

from .models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "level", "message", "read_at"]
    list_filter = ["level"]
    raw_id_fields = ["user", "run"]
