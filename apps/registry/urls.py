from django.urls import path

from . import views

app_name = "registry"
urlpatterns = [
    path("", views.model_list, name="models"),
    path("sync/", views.registry_sync, name="sync"),
    path("hooks/mlflow/", views.mlflow_webhook, name="mlflow-webhook"),
    path("<uuid:pk>/", views.model_detail, name="model"),
    path("<uuid:pk>/sync/", views.model_sync, name="model-sync"),
    path("<uuid:pk>/compare/", views.model_compare, name="compare"),
    path("<uuid:pk>/versions/<str:version>/", views.version_detail, name="version"),
    path("<uuid:pk>/versions/<str:version>/alias/", views.version_alias, name="version-alias"),
    path("<uuid:pk>/versions/<str:version>/alias/remove/", views.version_alias_remove, name="version-alias-remove"),
    path("<uuid:pk>/versions/<str:version>/tags/", views.version_tag, name="version-tag"),
    path("<uuid:pk>/versions/<str:version>/tags/remove/", views.version_tag_remove, name="version-tag-remove"),
    path("<uuid:pk>/versions/<str:version>/archive/", views.version_archive, name="version-archive"),
    path("<uuid:pk>/versions/<str:version>/unarchive/", views.version_unarchive, name="version-unarchive"),
]
