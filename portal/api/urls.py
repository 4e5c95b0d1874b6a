"""The REST API under /api/v1/ (namespace `api`)."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from accounts.api.views import AwsAccountViewSet
from investigations.api.views import InvestigationViewSet, QueryRunViewSet, RunResultViewSet

app_name = "api"

router = DefaultRouter()
router.register("investigations", InvestigationViewSet, basename="investigation")
router.register("runs", QueryRunViewSet, basename="run")
router.register("accounts", AwsAccountViewSet, basename="account")

urlpatterns = [
    *router.urls,
    path(
        "runs/<int:run_pk>/results/<slug:analysis>/",
        RunResultViewSet.as_view({"get": "retrieve"}),
        name="run-result",
    ),
]
