"""Fake of the `psycopg2` database driver for py_pools_SUITE: no server.
`fetchone` stands for connect, cursor, execute and fetchone."""
import pools_helpers


def fetchone(sql, params):
    """The one row of a users table."""
    pools_helpers.record("psycopg2.fetchone")
    return {"id": 42, "name": "Ada"}
