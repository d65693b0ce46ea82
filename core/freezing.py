"""Rows whose data exists keep the settings that made it.

A trained model that has started training, a job that has left the queue, a pool, a campaign with labels: their
results were made with the settings they hold, so changing one afterwards would make the row lie about its data.
The admin shows those fields read-only; `clean()` refuses a change that reaches the model some other way (a form,
a script), and a model that calls `refuse_frozen_changes()` in its `save()` refuses it even without `clean()`.
To try other settings, copy the row as a new one.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError


class FrozenError(ValidationError):
    """A save() that would change a frozen field."""


class Freezable:
    """Mixed into a model: `frozen_fields` are refused once `frozen_reason()` says why."""

    frozen_fields: tuple[str, ...] = ()
    copy_label: str = "Copy as a new row"  # what the admin offers instead, named in every refusal

    def frozen_reason(self) -> str:
        """Why the frozen fields cannot change now ("" while they can). Judged on the stored row."""
        return ""

    def stored(self):
        return type(self)._default_manager.filter(pk=self.pk).first() if self.pk else None

    def frozen_changes(self) -> tuple[str, list[str]]:
        """(the reason, the frozen fields this instance changes against the stored row)."""
        stored = self.stored()
        reason = stored.frozen_reason() if stored is not None else ""
        if not reason:
            return "", []
        changed = [name for name in self.frozen_fields
                   if field_value(self, name) != field_value(stored, name)]
        return reason, changed

    def refuse_frozen_changes(self, update_fields=None) -> None:
        """For save(): raise FrozenError when a frozen field would change (skipped when update_fields names none)."""
        if update_fields is not None and not set(update_fields) & set(self.frozen_fields):
            return
        reason, changed = self.frozen_changes()
        if changed:
            raise FrozenError({name: f"{reason} Use \u201c{self.copy_label}\u201d to try other settings."
                               for name in changed})

    def clean_frozen(self) -> None:
        reason, changed = self.frozen_changes()
        if changed:
            raise ValidationError({name: f"{reason} Use \u201c{self.copy_label}\u201d to try other settings."
                                   for name in changed})


def field_value(instance, name: str):
    return instance._meta.get_field(name).value_from_object(instance)
