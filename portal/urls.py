from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from apps.accounts.api.views import obtain_token
from apps.approvals.api.views import EnvironmentViewSet, PromotionViewSet
from apps.audit.api.views import AuditEventViewSet
from apps.catalog.api.views import TemplateViewSet
from apps.connections.api.views import ConnectionViewSet
from apps.core import views as core_views
from apps.costs.api.views import BudgetViewSet
from apps.deployments.api.views import EndpointViewSet
from apps.monitoring.api.views import DriftReportViewSet, MonitorViewSet
from apps.registry.api.views import ModelVersionViewSet, RegisteredModelViewSet
from apps.runs.api.views import RunViewSet

# No ".json" suffix routes: they broke every custom action (a 500); ?format=json still works.
router = DefaultRouter()
router.include_format_suffixes = False
router.register("runs", RunViewSet, basename="run")
router.register("models", RegisteredModelViewSet, basename="registered-model")
router.register("model-versions", ModelVersionViewSet, basename="model-version")
router.register("templates", TemplateViewSet, basename="template")
router.register("audit", AuditEventViewSet, basename="audit-event")
router.register("connections", ConnectionViewSet, basename="connection")
router.register("endpoints", EndpointViewSet, basename="endpoint")
router.register("promotions", PromotionViewSet, basename="promotion")
router.register("environments", EnvironmentViewSet, basename="environment")
router.register("budgets", BudgetViewSet, basename="budget")
router.register("drift-reports", DriftReportViewSet, basename="drift-report")
router.register("monitors", MonitorViewSet, basename="monitor")

urlpatterns = [
    path("", core_views.home, name="home"),
    path("getting-started/", core_views.getting_started, name="getting-started"),
    path("favicon.ico", core_views.favicon, name="favicon"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/", include("apps.accounts.urls")),
    path("runs/", include("apps.runs.urls")),
    path("connections/", include("apps.connections.urls")),
    path("catalog/", include("apps.catalog.urls")),
    path("models/", include("apps.registry.urls")),
    path("deployments/", include("apps.deployments.urls")),
    path("approvals/", include("apps.approvals.urls")),
    path("monitoring/", include("apps.monitoring.urls")),
    path("notifications/", include("apps.notifications.urls")),
    path("audit/", include("apps.audit.urls")),
    path("gateway/", include("apps.gateway.urls")),
    path("costs/", include("apps.costs.urls")),
    path("section/<slug:section>/", core_views.section, name="section"),
    path("admin/", admin.site.urls),
    path("api/v1/auth/token/", obtain_token, name="api-token"),
    path("api/v1/", include(router.urls)),
    path("api/v1/", include("apps.gateway.api.urls")),
    path("api/v1/", include("apps.costs.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
]
