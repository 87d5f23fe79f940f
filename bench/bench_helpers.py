"""Python side of the erlang_python benchmark (bench/py_bench.erl).

The benchmark puts this directory on the port's Python path.
"""


def identity(x):
    """Returns its argument: a round trip of x through the bridge."""
    return x
