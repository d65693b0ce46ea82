"""The two kinds of people who use the site.

- Researchers: staff users (the admin is theirs) in the "researchers" group, or superusers. They see
  everything, provenance included.
- Annotators: users in the "annotators" group. They see images and their own labels, never provenance.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

RESEARCHERS = "researchers"
ANNOTATORS = "annotators"


def is_researcher(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return user.is_staff and user.groups.filter(name=RESEARCHERS).exists()


def is_annotator(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    return user.groups.filter(name=ANNOTATORS).exists()
