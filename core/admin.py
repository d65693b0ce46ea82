from django.contrib import admin

from .models import WorkerProbe


@admin.register(WorkerProbe)
class WorkerProbeAdmin(admin.ModelAdmin):
    list_display = ["created", "hostname", "pid", "device", "token"]
    readonly_fields = ["created", "hostname", "pid", "device", "token"]
