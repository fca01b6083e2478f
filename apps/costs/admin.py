from django.contrib import admin

from .models import Budget, BudgetAlert, CostDay, DailyCost


@admin.register(DailyCost)
class DailyCostAdmin(admin.ModelAdmin):
    list_display = ("day", "backend", "team_tag", "project", "service", "amount", "currency", "is_estimate")
    list_filter = ("backend", "is_estimate")
    date_hierarchy = "day"


@admin.register(CostDay)
class CostDayAdmin(admin.ModelAdmin):
    list_display = ("source", "day", "rows", "final", "read_at")


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ("team", "project", "amount", "currency")


@admin.register(BudgetAlert)
class BudgetAlertAdmin(admin.ModelAdmin):
    list_display = ("budget", "month", "kind", "threshold", "spent", "created_at")
