from django.urls import path

from . import views

urlpatterns = [
    path("costs/", views.cost_list, name="cost-list"),
    path("costs/per-prediction/", views.cost_per_prediction, name="cost-per-prediction"),
    path("costs/per-version/", views.cost_per_version, name="cost-per-version"),
    path("costs/backfill/", views.cost_backfill, name="cost-backfill"),
]
