"""Helpers for py_SUITE: calls whose progress a test can wait for.

A test names an event by a token; one call sets it when it reaches a point
(started, finished), another call on another context waits for it with a
bound. No polling, no sleeps standing in for conditions.
"""
import threading
import time

_lock = threading.Lock()
_events = {}


def _event(token):
    with _lock:
        return _events.setdefault(token, threading.Event())


def sleep_then_set(token, seconds):
    """Sleeps, then sets the event `token`; returns seconds."""
    time.sleep(seconds)
    _event(token).set()
    return seconds


def set_then_sleep(token, seconds):
    """Sets the event `token`, then sleeps; returns seconds."""
    _event(token).set()
    time.sleep(seconds)
    return seconds


def wait_for(token, timeout):
    """True once the event `token` is set, False after timeout seconds."""
    return _event(token).wait(timeout)

