"""Fake of `boto3` (S3) for py_pools_SUITE: no network, no files."""
import pools_helpers


def download_file(key):
    """The local path the object `key` would be downloaded to."""
    pools_helpers.record("boto3.download_file")
    return "/tmp/" + key
