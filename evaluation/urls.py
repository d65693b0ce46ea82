from django.urls import path

from . import views

app_name = "evaluation"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:campaign_id>/", views.report, name="report"),
    path("<int:campaign_id>/participants/", views.participants, name="participants"),
    path("<int:campaign_id>/<str:kind>.csv", views.download, name="download"),
    path("<int:campaign_id>/preregistration.<str:fmt>", views.preregistration, name="preregistration"),
    path("<int:campaign_id>/power/", views.power_planner, name="power"),
]
