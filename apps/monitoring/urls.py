from django.urls import path

from . import views

app_name = "monitoring"
urlpatterns = [
    path("", views.fleet, name="fleet"),
    path("new/", views.monitor_new, name="new"),
    path("<uuid:pk>/", views.monitor_detail, name="monitor"),
    path("<uuid:pk>/evaluate/", views.monitor_evaluate, name="evaluate"),
    path("<uuid:pk>/toggle/", views.monitor_toggle, name="toggle"),
    path("<uuid:pk>/delete/", views.monitor_delete, name="delete"),
    path("<uuid:pk>/webhook/", views.monitor_webhook, name="webhook"),
    path("<uuid:pk>/webhook-test/", views.monitor_webhook_test, name="webhook-test"),
    path("reports/<uuid:pk>/", views.report_detail, name="report"),
]
