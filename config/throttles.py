"""Per-user rate limits of the API, counted where every web process sees them (Redis when it is the cache).

Two windows: a burst limit per second and a sustained one per minute, both far above what a fast honest annotator
sends (the labeling page sends one request per label, about one a second at the fastest), so only a script
flooding the API meets them. The rates are read from settings on every request (API_THROTTLE_RATES), so the
load benchmark can raise them from its environment and a test can lower them.

Each window is a sliding log of the times of admitted requests (a sorted set per user and window). One Lua
script checks and records both windows atomically, so a request costs one Redis round trip, and requests
arriving at the same instant cannot all read "under the limit" before any of them counts (DRF's own throttle
reads, then writes, and let nearly all of a hundred simultaneous requests through). Without Redis (embedded mode,
one process) the same logs live in memory under a lock.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

log = logging.getLogger(__name__)

SCOPES = ("annotation_burst", "annotation_sustained")

# KEYS: one sorted set per window. ARGV: limit and window (ms) per key, then this request's unique member.
# Returns 0 when the request is admitted (and recorded in every window), else the milliseconds until it would be.
_SLIDING_LOG = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
for i = 1, #KEYS do
  local limit, window = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if redis.call('ZCARD', KEYS[i]) >= limit then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + window - now, 1)
  end
end
if wait > 0 then return wait end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now, ARGV[#ARGV])
  redis.call('PEXPIRE', KEYS[i], ARGV[2 * i])
end
return 0
"""


def _windows() -> list[tuple[str, int, int]]:
    """(scope, limit, window in ms) of every configured limit."""
    out = []
    for scope in SCOPES:
        rate = settings.API_THROTTLE_RATES.get(scope)
        if rate:
            limit, seconds = SimpleRateThrottle.parse_rate(None, rate)
            out.append((scope, limit, seconds * 1000))
    return out


class _RedisLimiter:
    def __init__(self) -> None:
        self._scripts: dict[int, object] = {}

    def admit(self, ident: str, windows: list[tuple[str, int, int]]) -> float:
        """Seconds to wait (0: admitted and counted)."""
        client = cache._cache.get_client(write=True)  # django's RedisCache: the redis-py client of its pool
        script = self._scripts.get(id(client))
        if script is None:  # redis-py keeps the SHA and loads the script again if the server lost it
            script = self._scripts[id(client)] = client.register_script(_SLIDING_LOG)
        keys = [cache.make_key(f"throttle:{scope}:{ident}") for scope, _, _ in windows]
        args = [value for _, limit, ms in windows for value in (limit, ms)]
        return int(script(keys=keys, args=[*args, secrets.token_hex(8)])) / 1000


class _MemoryLimiter:
    """The same sliding logs for one process (embedded mode: runserver, no shared cache)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[str, deque[float]] = {}

    def admit(self, ident: str, windows: list[tuple[str, int, int]]) -> float:
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            logs = [self._logs.setdefault(f"{scope}:{ident}", deque()) for scope, _, _ in windows]
            for entries, (_, limit, ms) in zip(logs, windows, strict=True):
                while entries and entries[0] <= now - ms / 1000:
                    entries.popleft()
                if len(entries) >= limit:
                    wait = max(wait, entries[0] + ms / 1000 - now)
            if wait == 0:
                for entries in logs:
                    entries.append(now)
        return wait


_redis = _RedisLimiter()
_memory = _MemoryLimiter()


class AnnotationThrottle(BaseThrottle):
    """Both windows of the caller (the user; the address for anonymous requests) in one check."""

    def allow_request(self, request, view) -> bool:
        windows = _windows()
        if not windows:
            return True
        user = getattr(request, "user", None)
        ident = f"user-{user.pk}" if user is not None and user.is_authenticated else f"ip-{self.get_ident(request)}"
        limiter = _redis if hasattr(cache, "_cache") and hasattr(cache._cache, "get_client") else _memory
        try:
            self._wait = limiter.admit(ident, windows)
        except RedisError:
            # A rate limit is a guard, not a gate: with the cache down the API keeps labeling.
            log.warning("rate-limit cache unreachable; request let through", exc_info=True)
            return True
        return self._wait == 0

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)
