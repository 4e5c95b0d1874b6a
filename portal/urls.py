"""Root URLs: pages, auth, admin and the API."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from investigations import views as investigation_views
from portal import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("audit/", views.audit_log, name="audit_log"),
    path("integrations/", views.integrations, name="integrations"),
    path("integrations/tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("integrations/webhooks/<int:pk>/delete/", views.webhook_delete, name="webhook_delete"),
    path(
        "integrations/webhooks/<int:pk>/deliveries/",
        views.webhook_deliveries,
        name="webhook_deliveries",
    ),
    path(
        "auth/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"
    ),
    path("auth/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("auth/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "auth/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("investigations/", include("investigations.urls")),
    path("entities/<path:address>/", investigation_views.entity_detail, name="entity_detail"),
    path("detections/", investigation_views.detection_catalogue, name="detections"),
    path("aws/", include("accounts.urls")),
    path("api/v1/", include("portal.api.urls")),
    path("admin/", admin.site.urls),
]
