"""Django's ModelBackend with the logged-in user's row kept in the cache between requests.

Every page and API call of a logged-in session loads its user; during a launch that is one query on each of
hundreds of requests a second. The row is cached for AUTH_USER_CACHE_SECONDS (0: never) under its id, and any
save or delete of a user clears it at once (connected in CoreConfig.ready, so every process clears it), so a
deactivated account or a changed password still ends its sessions on their next request.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.utils import timezone
from redis.exceptions import RedisError


def _key(pk: object) -> str:
    return f"auth-user:{pk}"


class CachedModelBackend(ModelBackend):
    def get_user(self, user_id) -> AbstractBaseUser | None:
        seconds = settings.AUTH_USER_CACHE_SECONDS
        if not seconds:
            return super().get_user(user_id)
        try:
            row = cache.get(_key(user_id))
        except RedisError:
            return super().get_user(user_id)
        user = None
        if row is not None:
            model = get_user_model()
            user = model.from_db(model.objects.db, list(row), list(row.values()))
        if user is None:
            user = super().get_user(user_id)
            if user is not None:
                remember(user)
        return user if self.user_can_authenticate(user) else None


def remember(user: AbstractBaseUser) -> None:
    """Put a user just read or logged in into the cache (its next request then needs no query)."""
    if settings.AUTH_USER_CACHE_SECONDS:
        # The row's values only: a pickled instance would carry its permission caches along.
        row = {f.attname: getattr(user, f.attname) for f in user._meta.concrete_fields}
        try:
            cache.set(_key(user.pk), row, settings.AUTH_USER_CACHE_SECONDS)
        except RedisError:
            pass


def update_last_login(sender, request, user, **kwargs) -> None:
    """user_logged_in, in place of Django's receiver: last_login is written unless it was set in the last minute
    (an account a study link made a moment ago has it from its creation), then the row goes into the cache, so
    the session's first page needs no query."""
    now = timezone.now()
    if user.last_login is None or now - user.last_login > timedelta(minutes=1):
        user.last_login = now
        user.save(update_fields=["last_login"])
    remember(user)


def forget(sender, instance, **kwargs) -> None:
    """post_save / post_delete of a user: the next request reads the row again."""
    try:
        cache.delete(_key(instance.pk))
    except RedisError:
        pass
