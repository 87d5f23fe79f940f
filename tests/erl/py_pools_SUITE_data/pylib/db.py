"""Fake database module of the pools guide, for py_pools_SUITE."""
import pools_helpers


def query(sql):
    """Rows, as a list of lists."""
    pools_helpers.record("db.query")
    return [[1, "Ada"], [2, "Grace"]]


def connect(dsn):
    """A description of the connection, as a dict."""
    pools_helpers.record("db.connect")
    return {"dsn": dsn, "connected": True}
