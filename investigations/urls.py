"""Page URLs for investigations and runs."""

from django.urls import path

from investigations import chartdata, geo_views, suppression_views, views
from investigations.reports import views as reports
from investigations.watches import views as watches

app_name = "investigations"

urlpatterns = [
    path("", views.investigation_list, name="list"),
    path("new/", views.investigation_create, name="create"),
    path("<int:pk>/", views.investigation_detail, name="detail"),
    path("<int:pk>/runs/new/", views.run_create, name="run_create"),
    path("<int:pk>/notes/", views.note_add, name="note_add"),
    path("<int:pk>/status/", views.investigation_status, name="status"),
    path("<int:pk>/members/", views.investigation_members, name="members"),
    path("<int:pk>/assignee/", views.investigation_assignee, name="assignee"),
    path("<int:pk>/tags/", views.investigation_tags, name="tags"),
    path("<int:pk>/findings/triage/", views.findings_triage, name="findings_triage"),
    path("findings/<int:pk>/triage/", views.finding_triage, name="finding_triage"),
    path("<int:pk>/suppressions/", suppression_views.investigation_rules, name="suppressions"),
    path("suppressions/", suppression_views.global_rules, name="suppressions_global"),
    path(
        "suppressions/<int:pk>/disable/",
        suppression_views.rule_disable,
        name="suppression_disable",
    ),
    path("runs/", views.run_history, name="run_history"),
    path("reference/", views.reference_list, name="reference_list"),
    path("reference/<int:pk>/", views.reference_detail, name="reference_detail"),
    path("reference/<int:pk>/sharing/", views.reference_sharing, name="reference_sharing"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("runs/<int:pk>/progress/", views.run_progress, name="run_progress"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
    path("runs/<int:pk>/results/<str:analysis>/", views.run_result, name="run_result"),
    path("runs/<int:pk>/compare/", views.run_compare, name="run_compare"),
    path("runs/<int:pk>/charts.json", chartdata.run_charts, name="run_charts"),
    path("runs/<int:pk>/graph.json", chartdata.run_graph, name="run_graph"),
    path("runs/<int:pk>/geo/", geo_views.run_geo, name="run_geo"),
    path("<int:pk>/report.<str:fmt>", reports.report_download, name="report"),
    path("reports/<int:pk>/", reports.report_job, name="report_job"),
    path("reports/<int:pk>/download/", reports.report_file, name="report_file"),
    path("summary/", reports.findings_summary_page, name="findings_summary"),
    path("runs/<int:pk>/watch/", watches.watch_create, name="watch_create"),
    path("watches/<int:pk>/", watches.watch_detail, name="watch_detail"),
    path("watches/<int:pk>/pause/", watches.watch_pause, name="watch_pause"),
    path("watches/<int:pk>/resume/", watches.watch_resume, name="watch_resume"),
    path("watches/<int:pk>/delete/", watches.watch_delete, name="watch_delete"),
]
