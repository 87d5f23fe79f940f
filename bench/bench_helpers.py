"""Python side of the erlang_python benchmark (bench/py_bench.erl).

The benchmark puts this directory on the port's Python path.
"""


def identity(x):
    """Returns its argument: a round trip of x through the bridge."""
    return x


def call_erlang(n):
    """Calls the Erlang function bench_identity n times; the sum of the
    results, 0 + 1 + ... + n - 1, checks every one of them."""
    import erlang

    f = erlang.bench_identity
    return sum(f(k) for k in range(n))
