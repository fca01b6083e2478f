from django.urls import path

from . import views

app_name = "costs"
urlpatterns = [
    path("", views.cost_dashboard, name="dashboard"),
    path("budgets/", views.budget_list, name="budgets"),
    path("budgets/<uuid:pk>/", views.budget_edit, name="budget"),
    path("budgets/<uuid:pk>/delete/", views.budget_delete, name="budget-delete"),
    path("budgets/<uuid:pk>/test-webhook/", views.budget_webhook_test, name="budget-webhook-test"),
    path("backfill/", views.backfill, name="backfill"),
    path("idle/ask/", views.scale_down_request, name="scale-down"),
    path("versions/<uuid:pk>/", views.version_costs, name="version"),
]
