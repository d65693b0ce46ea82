from django.urls import path

from . import views

app_name = "annotation"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:pk>/", views.label, name="label"),
    path("<int:pk>/priming/", views.priming, name="priming"),
    path("<int:pk>/priming.png", views.priming_image, name="priming_image"),
    path("<int:pk>/done/", views.done, name="done"),
    path("image/<str:public_id>.png", views.item_image, name="image"),
]
