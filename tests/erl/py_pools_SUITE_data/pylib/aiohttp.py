"""Fake of `aiohttp` for py_pools_SUITE: no network."""
import pools_helpers


def get(url):
    """A response for `url`, as a dict."""
    pools_helpers.record("aiohttp.get")
    return {"status": 200, "url": url}
