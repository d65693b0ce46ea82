from django.urls import path

from . import panel_views, views

app_name = "annotation"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:pk>/", views.label, name="label"),
    path("<int:pk>/priming/", views.priming, name="priming"),
    path("<int:pk>/priming.png", views.priming_image, name="priming_image"),
    path("<int:pk>/done/", views.done, name="done"),
    path("study/<str:link_id>/done/", panel_views.finish, name="study_finish"),
    path("study/<str:link_id>/<str:secret>/", panel_views.arrive, name="study"),
    path("image/<str:public_id>.png", views.item_image, name="image"),
]
