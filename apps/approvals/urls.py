"""TEMPORARY until the approvals-ui branch lands."""

from django.http import HttpResponse
from django.urls import path

app_name = "approvals"
urlpatterns = [path("<uuid:pk>/", lambda request, pk: HttpResponse(""), name="request")]
