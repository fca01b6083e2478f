from django.contrib import admin

from .models import Run, RunEvent, RunStep


class RunEventInline(admin.TabularInline):
    model = RunEvent
    extra = 0
    can_delete = False
    readonly_fields = ["created_at", "kind", "from_status", "to_status", "message"]


class RunStepInline(admin.TabularInline):
    model = RunStep
    extra = 0
    can_delete = False
    fields = ["position", "key", "action", "status", "status_message", "external_id", "decided_by"]
    readonly_fields = fields


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status", "kind", "backend", "team", "created_by", "created_at"]
    list_filter = ["status", "kind", "backend", "team"]
    list_select_related = ["team", "created_by"]
    # Status changes go through the run service, never a hand edit.
    readonly_fields = [f.name for f in Run._meta.fields]
    inlines = [RunStepInline, RunEventInline]
