from django.urls import path

from . import views

app_name = "connections"
urlpatterns = [
    path("", views.connection_list, name="list"),
    path("new/<slug:kind>/", views.connection_new, name="new"),
    path("<uuid:pk>/", views.connection_edit, name="edit"),
    path("<uuid:pk>/test/", views.connection_test, name="test"),
]
