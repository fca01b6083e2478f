from django.contrib import admin

from .models import DriftReport, Monitor


@admin.register(Monitor)
class MonitorAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "source", "schedule", "status", "last_window_end"]
    list_filter = ["status", "source", "schedule"]
    search_fields = ["name", "endpoint_name", "dataset"]
    exclude = ["reference_profile"]


@admin.register(DriftReport)
class DriftReportAdmin(admin.ModelAdmin):
    list_display = ["__str__", "team", "status", "dataset_drift", "drift_share", "created_at"]
    list_filter = ["status", "dataset_drift"]
    raw_id_fields = ["monitor", "run"]
