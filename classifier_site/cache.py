"""Django's Redis cache, reusing one client per connection pool.

Django's own client builds a new `redis.Redis` object for every cache operation;
redis-py 8 makes that costly (every client copies ~170 response callbacks), and the
rate limit makes two cache operations per API request. A `redis.Redis` is safe to
share between threads and greenlets: connections come from its pool.
"""

from django.core.cache.backends import redis as django_redis


class _ReusingClient(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        # Django's private helpers, which the stubs leave out
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = _ReusingClient
