from django.urls import path

from . import views

app_name = "runs"
urlpatterns = [
    path("", views.run_list, name="list"),
    path("new/", views.run_new, name="new"),
    path("<uuid:pk>/", views.run_detail, name="detail"),
    path("<uuid:pk>/cancel/", views.run_cancel, name="cancel"),
    path("<uuid:pk>/retry/", views.run_retry, name="retry"),
    path("<uuid:pk>/steps/<uuid:step_pk>/decide/", views.step_decide, name="step-decide"),
]
