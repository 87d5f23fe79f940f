"""Python side of the erlang_python benchmark (bench/py_bench.erl).

The benchmark puts this directory on the port's Python path.
"""


def identity(x):
    """Returns its argument: a round trip of x through the bridge."""
    return x


def marshal_round_trip(x):
    """The seconds marshal.loads(marshal.dumps(x)) takes: CPython's own
    fastest way to write a value out and make its objects again, the
    reference for what converting a term-heavy payload costs py_port."""
    import marshal
    import time

    start = time.perf_counter()
    marshal.loads(marshal.dumps(x))
    return time.perf_counter() - start


def call_erlang(n):
    """Calls the Erlang function bench_identity n times; the sum of the
    results, 0 + 1 + ... + n - 1, checks every one of them."""
    import erlang

    f = erlang.bench_identity
    return sum(f(k) for k in range(n))


def python_work(n, repeat=1):
    """n rounds of plain Python (integer arithmetic, a function call, a
    dict store), timed inside Python, `repeat` times: the seconds the
    fastest took. The bench runs it in py_port and in the python3 py_port
    embeds (case 13). As with timeit, the fastest of several runs is the
    figure: the work is the same each time, and whatever else the machine
    does can only add to it."""
    import time

    def step(a, b):
        return (a * 31 + b) % 1000003

    best = None
    for _ in range(repeat):
        start = time.perf_counter()
        acc, seen = 0, {}
        for i in range(n):
            acc = step(acc, i)
            seen[acc & 1023] = i
        took = time.perf_counter() - start
        best = took if best is None else min(best, took)
    return best
