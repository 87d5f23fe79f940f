"""Fake of the `httpx` HTTP client for py_pools_SUITE: no network."""
import pools_helpers


def get(url):
    """A response for `url`, as a dict."""
    pools_helpers.record("httpx.get")
    return {"status_code": 200, "url": url}


def post(url, data=None):
    """A response for `url`, as a dict."""
    pools_helpers.record("httpx.post")
    return {"status_code": 201, "url": url, "data": data}
