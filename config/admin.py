"""The admin base class shared by the apps: the admin belongs to researchers.

Access follows the researcher role (config.roles), not per-model permissions, so a researcher
account works in every app's admin without hand-picked permissions, and nobody else gets in.
"""

from __future__ import annotations

from functools import partial

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.text import capfirst

from .api_edge import Malformed, db_int
from .roles import is_researcher


class ResearchersOnlyAdmin(admin.ModelAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_researcher(request.user)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_researcher(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_researcher(request.user)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_researcher(request.user)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_researcher(request.user)


class ShowsErrorsOfReadOnlyFields(forms.BaseForm):
    """A model's clean() may name a field the admin shows read-only (not in the form): show it at the top."""

    def add_error(self, field, error) -> None:
        if field is None and isinstance(error, ValidationError) and hasattr(error, "error_dict"):
            keyed: dict[str, list] = {}
            for name, errors in error.error_dict.items():
                keyed.setdefault(name if name in self.fields else NON_FIELD_ERRORS, []).extend(errors)
            error = ValidationError(keyed)
        super().add_error(field, error)


class FreezingAdmin(admin.ModelAdmin):
    """For models mixed with core.freezing.Freezable: frozen fields read-only, a refused change said out loud, and
    "Copy as a new ..." (a button on the page, an action on the list) opening an add form prefilled from the row.

    Put it before the base admin class: `class JobAdmin(FreezingAdmin, ResearchersOnly)`.
    """

    # Fields the add form takes from ?copy_of=<pk> (the frozen ones, plus whatever else is worth keeping).
    copy_fields: tuple[str, ...] = ()

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (ShowsErrorsOfReadOnlyFields, form), {})

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.frozen_reason():
            fields += [name for name in obj.frozen_fields if name not in fields]
        return fields

    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and object_id is not None:
            obj = self.get_object(request, unquote(object_id))
            if obj is not None:
                self._refuse_frozen_changes(request, obj)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _refuse_frozen_changes(self, request: HttpRequest, obj) -> None:
        """Read-only fields are left out of the form, so a POST of them is ignored: say so, and why."""
        reason = obj.frozen_reason()
        posted = [name for name in obj.frozen_fields if name in request.POST]
        if not reason or not posted:
            return
        form_class = forms.modelform_factory(
            self.model, fields=posted, formfield_callback=partial(self.formfield_for_dbfield, request=request))
        form = form_class(request.POST, instance=obj)
        for field in form.fields.values():
            field.show_hidden_initial = False  # set for callable defaults; compare with the row, not the default
        changed = form.changed_data
        if changed:
            names = ", ".join(str(capfirst(self.model._meta.get_field(name).verbose_name)) for name in changed)
            self.message_user(request, f"{names}: not changed. {reason} Use \u201c{obj.copy_label}\u201d to try "
                              "other settings.", messages.WARNING)
            request.frozen_refused = True

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        request.form_changed = form.has_changed()
        super().save_model(request, obj, form, change)

    def response_change(self, request: HttpRequest, obj):
        if getattr(request, "frozen_refused", False) and not getattr(request, "form_changed", True):
            # Nothing was saved: no "changed successfully", back to the page with the reason.
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    def copy_source(self, request: HttpRequest):
        """The row named by ?copy_of=<pk>, or None: an id that is not ASCII digits within bigint is ignored."""
        raw = request.GET.get("copy_of", "")
        try:
            pk = db_int(raw, "copy_of", minimum=1)
        except Malformed:
            return None
        return self.get_queryset(request).filter(pk=pk).first()

    def copy_url(self, obj) -> str:
        info = self.model._meta.app_label, self.model._meta.model_name
        return reverse("admin:{}_{}_add".format(*info)) + f"?copy_of={obj.pk}"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        source = self.copy_source(request) if add else None
        if source is not None:
            context["copied_from"] = source
        if obj is not None and obj.pk:
            context["frozen_reason"] = obj.frozen_reason()
            if self.has_add_permission(request):
                context.update(copy_url=self.copy_url(obj), copy_label=obj.copy_label)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        initial = super().get_changeform_initial_data(request)
        initial.pop("copy_of", None)
        source = self.copy_source(request)
        if source is None:
            return initial
        for name in self.copy_fields:
            field = self.model._meta.get_field(name)
            initial[name] = list(getattr(source, name).all()) if field.many_to_many else field.value_from_object(source)
        if "name" in self.copy_fields:
            initial["name"] = f"{source.name} (copy)"
        return initial

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        if self.has_add_permission(request):
            actions["copy_as_new"] = (type(self).copy_as_new, "copy_as_new", self.model.copy_label)
        return actions

    def copy_as_new(self, request: HttpRequest, queryset: QuerySet):
        if queryset.count() != 1:
            self.message_user(request, "Choose one row to copy.", messages.WARNING)
            return None
        return HttpResponseRedirect(self.copy_url(queryset.get()))
