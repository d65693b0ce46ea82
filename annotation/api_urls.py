from django.urls import path

from . import api

app_name = "annotation_api"
urlpatterns = [
    path("campaigns/", api.CampaignList.as_view(), name="campaigns"),
    path("campaigns/<int:pk>/next/", api.NextImage.as_view(), name="next"),
    path("campaigns/<int:pk>/labels/", api.SubmitLabel.as_view(), name="submit"),
    path("campaigns/<int:pk>/undo/", api.Undo.as_view(), name="undo"),
    path("campaigns/<int:pk>/progress/", api.Progress.as_view(), name="progress"),
    path("campaigns/<int:pk>/priming/", api.Primed.as_view(), name="primed"),
    path("labels/", api.LabelList.as_view(), name="labels"),
]
