"""Fake of the `redis` client for py_pools_SUITE: a dict, no server."""
import pools_helpers

_store = {}


def set(key, value):
    """Stores value under key; True."""
    pools_helpers.record("redis.set")
    _store[key] = value
    return True


def get(key):
    """The value under key, or None."""
    pools_helpers.record("redis.get")
    return _store.get(key)
