from django.urls import path

from . import views

app_name = "gateway"
urlpatterns = [
    path("endpoints/<uuid:endpoint_id>/keys/", views.keys, name="keys"),
    path("endpoints/<uuid:endpoint_id>/keys/new/", views.key_create, name="key-create"),
    path("endpoints/<uuid:endpoint_id>/keys/<uuid:key_id>/revoke/", views.key_revoke, name="key-revoke"),
]
