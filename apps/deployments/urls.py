from django.urls import path

from . import views

app_name = "deployments"
urlpatterns = [
    path("", views.endpoint_list, name="list"),
    path("new/", views.deploy, name="deploy"),
    path("<uuid:pk>/", views.endpoint_detail, name="endpoint"),
    path("<uuid:pk>/live/", views.endpoint_live, name="live"),
    path("<uuid:pk>/charts/", views.endpoint_charts, name="charts"),
    path("<uuid:pk>/traffic/", views.endpoint_traffic, name="traffic"),
    path("<uuid:pk>/promote/", views.endpoint_promote, name="promote"),
    path("<uuid:pk>/rollback/", views.endpoint_rollback, name="rollback"),
    path("<uuid:pk>/delete/", views.endpoint_delete, name="delete"),
]
