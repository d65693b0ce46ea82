"""Template variables every page needs: which kind of user is looking (for the navigation)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .roles import is_annotator, is_researcher


def roles(request: HttpRequest) -> dict[str, object]:
    # Lazy: a page that overrides the navigation never pays for the group queries.
    user = getattr(request, "user", None)
    return {
        "is_researcher": SimpleLazyObject(lambda: user is not None and is_researcher(user)),
        "is_annotator": SimpleLazyObject(lambda: user is not None and is_annotator(user)),
    }
