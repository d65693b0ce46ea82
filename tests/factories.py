"""Personas used across the tests."""

from __future__ import annotations

from django.contrib.auth.models import Group, User

from config.roles import ANNOTATORS, RESEARCHERS

PASSWORD = "correct horse battery staple"


def make_user(username: str, **extra) -> User:
    return User.objects.create_user(username=username, password=PASSWORD, email=f"{username}@example.org", **extra)


def make_researcher(username: str = "rita") -> User:
    user = make_user(username, is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=RESEARCHERS)[0])
    return user


def make_annotator(username: str = "anna") -> User:
    user = make_user(username)
    user.groups.add(Group.objects.get_or_create(name=ANNOTATORS)[0])
    return user
