"""Holding Ctrl-C (SIGINT) and SIGTERM off while a few steps must finish together, and telling when a
signal handler must not raise.

Python runs signal handlers in the main thread, but the C-level handler may run in any thread: blocking a
signal in the main thread (`pthread_sigmask`) does not stop another thread (pyarrow's, jemalloc's) from
taking it and the main thread from raising between two steps. Swapping the Python handlers does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

HELD = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def held_signals(redeliver: bool = True) -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done. redeliver: the first that came is then raised
    again, to the handlers that were in place (the run stops right after the block); False: dropped (for
    clean-up that already runs because of an earlier stop). Outside the main thread, where Python cannot
    set handlers, the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []

    def record(signum, frame):
        came.append(signum)

    previous = {number: signal.signal(number, record) for number in HELD}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        if came and redeliver:
            signal.raise_signal(came[0])


def unsafe_to_raise(frame) -> bool:
    """Whether a signal handler called at `frame` (its second argument) must not raise: the main thread is
    importing a module or running a finaliser. An exception raised there aborts the interpreter (torch's
    C++ start-up: "terminate called after throwing"), leaves half-imported modules behind (numpy without
    `void`), or is swallowed ("Exception ignored in ..."), so the stop would be lost."""
    while frame is not None:
        code = frame.f_code
        if code.co_filename.startswith("<frozen importlib") or code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def end_with_parent(parent_pid: int) -> None:
    """In a child process: on Linux, ask the kernel to kill this process when its parent ends, so that no
    worker outlives a run (holding its folder's lock, or blocked on a queue nobody feeds); if the parent
    already ended before the request, end now."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() != parent_pid:
        os._exit(1)
