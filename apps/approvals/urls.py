from django.urls import path

from . import environment_views, views

app_name = "approvals"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("new/", views.promotion_new, name="new"),
    path("environments/", environment_views.environments, name="environments"),
    path("environments/<uuid:environment_id>/", environment_views.environment_edit, name="environment"),
    path("versions/<uuid:version_id>/", views.version_promotions, name="version"),
    path("<uuid:pk>/", views.request_detail, name="request"),
    path("<uuid:pk>/decide/", views.decide, name="decide"),
    path("<uuid:pk>/evidence/", views.request_evidence, name="evidence"),
    path("<uuid:pk>/outcome/", views.request_outcome, name="outcome"),
    path("<uuid:pk>/withdraw/", views.request_withdraw, name="withdraw"),
    path("<uuid:pk>/retry/", views.request_retry, name="retry"),
]
