from django.urls import path

from . import views

app_name = "generation"
urlpatterns = [
    path("progress/", views.progress, name="progress"),
    path("jobs/<int:pk>/results.npz", views.results, name="results"),
]
