"""Python >= 3.10 compatibility shim for asyncio-nats-streaming 0.4.0 and
asyncio-nats-client 0.11.5.

Those libraries pass ``loop=`` to asyncio APIs that dropped the parameter in
Python 3.10 (asyncio.Queue, asyncio.sleep, asyncio.wait_for,
asyncio.open_connection, ...). Import this module *before* ``nats`` / ``stan``:
it rebinds the affected ``asyncio`` attributes to thin wrappers that discard
the ``loop`` keyword. The installed packages are not modified.

The wrappers are looked up at call time (the libraries call
``asyncio.<name>(...)``), so patching the ``asyncio`` module is enough.
"""
import asyncio
import functools
import inspect
import sys

__all__ = ["install"]

_installed = False


def _accepts_loop(obj):
    try:
        return "loop" in inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return True


def _wrap_function(fn):
    @functools.wraps(fn)
    def wrapper(*args, loop=None, **kwargs):
        return fn(*args, **kwargs)

    wrapper.__wrapped_by_py311_shim__ = True
    return wrapper


def _wrap_class(cls):
    # A subclass keeps isinstance() working for code that checks the base.
    def __init__(self, *args, loop=None, **kwargs):
        cls.__init__(self, *args, **kwargs)

    return type(cls.__name__, (cls,), {"__init__": __init__, "__module__": cls.__module__,
                                        "__wrapped_by_py311_shim__": True})


# Functions / classes that lost `loop=` in 3.10 (only patched if the running
# interpreter's version really rejects it).
_FUNCTIONS = ("sleep", "wait_for", "wait", "gather", "open_connection",
              "start_server", "open_unix_connection", "start_unix_server",
              "as_completed", "shield")
_CLASSES = ("Queue", "LifoQueue", "PriorityQueue", "Lock", "Event",
            "Condition", "Semaphore", "BoundedSemaphore")


def install():
    global _installed
    if _installed:
        return
    _installed = True
    if sys.version_info < (3, 10):
        return
    for name in _FUNCTIONS:
        fn = getattr(asyncio, name, None)
        if fn is None or getattr(fn, "__wrapped_by_py311_shim__", False):
            continue
        if name == "gather":
            # gather(*aws, return_exceptions=False): signature has no loop.
            setattr(asyncio, name, _wrap_function(fn))
        elif not _accepts_loop(fn):
            setattr(asyncio, name, _wrap_function(fn))
    for name in _CLASSES:
        cls = getattr(asyncio, name, None)
        if cls is None or getattr(cls, "__wrapped_by_py311_shim__", False):
            continue
        setattr(asyncio, name, _wrap_class(cls))


install()
