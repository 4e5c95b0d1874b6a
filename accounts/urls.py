"""Page URLs for AWS accounts."""

from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.account_list, name="list"),
    path("new/", views.account_create, name="create"),
    path("<int:pk>/", views.account_detail, name="detail"),
    path("<int:pk>/edit/", views.account_edit, name="edit"),
    path("<int:pk>/delete/", views.account_delete, name="delete"),
    path("<int:pk>/setup/<str:fmt>/", views.account_setup, name="setup"),
    path("<int:pk>/test-connection/", views.account_test_connection, name="test_connection"),
    path("<int:pk>/refresh/", views.account_refresh, name="refresh"),
    path("<int:pk>/instances/search/", views.instance_search, name="instance_search"),
]
