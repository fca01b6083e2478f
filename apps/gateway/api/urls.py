from django.urls import path

from . import views

urlpatterns = [
    path("endpoints/<uuid:endpoint_id>/keys/", views.keys, name="api-endpoint-keys"),
    path("endpoints/<uuid:endpoint_id>/keys/<uuid:key_id>/revoke/", views.key_revoke, name="api-endpoint-key-revoke"),
]
