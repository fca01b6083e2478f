from django.urls import path

from . import views

app_name = "catalog"
urlpatterns = [
    path("", views.template_list, name="list"),
    path("<slug:slug>/", views.template_detail, name="detail"),
    path("<slug:slug>/launch/", views.template_launch, name="launch"),
    path("<slug:slug>/edit/", views.template_edit, name="edit"),
    path("<slug:slug>/v<int:number>/", views.template_version, name="version"),
]
