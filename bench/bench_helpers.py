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


def python_work(n):
    """n rounds of plain Python (integer arithmetic, a function call, a
    dict store), timed inside Python: the seconds they took. The bench
    runs it in py_port and in the python3 py_port embeds (case 13)."""
    import time

    def step(a, b):
        return (a * 31 + b) % 1000003

    start = time.perf_counter()
    acc, seen = 0, {}
    for i in range(n):
        acc = step(acc, i)
        seen[acc & 1023] = i
    return time.perf_counter() - start
