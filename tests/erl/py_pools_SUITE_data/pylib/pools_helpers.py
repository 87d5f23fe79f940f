"""Helpers for py_pools_SUITE.

Events: a test names an event by a token; one call sets it when it reaches
a point, another call, on another context, waits for it with a bound. No
sleeps standing in for conditions.

Call log: the fake libraries beside this file (requests, db, ...) record
each call with the thread that ran it, so a test can tell which pool a
routed call ran on (a context is one thread; the suite reads each
context's thread with threading.get_ident()).
"""
import threading

_lock = threading.Lock()
_events = {}
_calls = []
_calls_changed = threading.Condition(_lock)


def _event(token):
    with _lock:
        return _events.setdefault(token, threading.Event())


def set_event(token):
    """Sets the event `token`."""
    _event(token).set()


def wait_for(token, timeout):
    """True once the event `token` is set, False after timeout seconds."""
    return _event(token).wait(timeout)


def set_then_wait(started, release, timeout, done=None):
    """Sets `started`, waits for `release` (at most timeout seconds), then
    sets `done` if given. Returns whether `release` was set."""
    _event(started).set()
    released = _event(release).wait(timeout)
    if done is not None:
        _event(done).set()
    return released


def record(name):
    """Logs a call named `name` with the thread running it."""
    with _calls_changed:
        _calls.append((name, threading.get_ident()))
        _calls_changed.notify_all()


def note(label):
    """Logs `label` with the thread running it (for casts)."""
    record(label)


def take_calls(n, timeout):
    """Waits until at least n calls are logged (at most timeout seconds),
    then returns the log, oldest first, and empties it."""
    with _calls_changed:
        _calls_changed.wait_for(lambda: len(_calls) >= n, timeout)
        taken = list(_calls)
        _calls.clear()
        return taken
