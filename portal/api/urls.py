"""The REST API under /api/v1/ (namespace `api`)."""

from django.urls import path
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from accounts.api.views import AwsAccountViewSet
from investigations.api.reports import (
    FindingsSummaryView,
    InvestigationReportView,
    ReportExportView,
    ReportFileView,
)
from investigations.api.suppressions import SuppressionRuleViewSet
from investigations.api.views import (
    DetectionViewSet,
    EntityView,
    FindingViewSet,
    InvestigationViewSet,
    QueryRunViewSet,
    ReferenceTableViewSet,
    RunResultViewSet,
)
from investigations.api.watches import WatchAlertViewSet, WatchViewSet
from portal.api.schema import SchemaView
from portal.api.views import AuditEventViewSet, WebhookViewSet

app_name = "api"

router = DefaultRouter()
router.register("investigations", InvestigationViewSet, basename="investigation")
router.register("runs", QueryRunViewSet, basename="run")
router.register("findings", FindingViewSet, basename="finding")
router.register("audit-events", AuditEventViewSet, basename="audit-event")
router.register("webhooks", WebhookViewSet, basename="webhook")
router.register("reference-tables", ReferenceTableViewSet, basename="reference-table")
router.register("accounts", AwsAccountViewSet, basename="account")
router.register("detections", DetectionViewSet, basename="detection")
router.register("suppression-rules", SuppressionRuleViewSet, basename="suppression-rule")
router.register("watches", WatchViewSet, basename="watch")
router.register("watch-alerts", WatchAlertViewSet, basename="watch-alert")

urlpatterns = [
    *router.urls,
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("entities/<path:address>/", EntityView.as_view(), name="entity-detail"),
    path(
        "runs/<int:run_pk>/results/<str:analysis>/",
        RunResultViewSet.as_view({"get": "retrieve"}),
        name="run-result",
    ),
    path(
        "investigations/<int:pk>/report/",
        InvestigationReportView.as_view(),
        name="investigation-report",
    ),
    path("reports/<int:pk>/", ReportExportView.as_view(), name="report-detail"),
    path("reports/<int:pk>/download/", ReportFileView.as_view(), name="report-download"),
    path("findings-summary/", FindingsSummaryView.as_view(), name="findings-summary"),
]
