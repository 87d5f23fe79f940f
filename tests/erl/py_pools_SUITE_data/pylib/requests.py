"""Fake of the `requests` HTTP client for py_pools_SUITE: no network."""
import pools_helpers


def get(url, timeout=None):
    """A response for `url`, as a dict."""
    pools_helpers.record("requests.get")
    return {"status_code": 200, "url": url, "timeout": timeout}


def post(url, data=None):
    """A response for `url`, as a dict."""
    pools_helpers.record("requests.post")
    return {"status_code": 201, "url": url, "data": data}
