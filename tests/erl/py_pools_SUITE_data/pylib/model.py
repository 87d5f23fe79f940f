"""Fake ML model of the pools guide, for py_pools_SUITE."""
import pools_helpers


def predict(file):
    """A prediction for `file`, as a dict."""
    pools_helpers.record("model.predict")
    return {"input": file, "label": "cat"}
