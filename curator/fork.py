"""Half of a job in a forked second process: Python runs one core a process, and a forked child
starts with the parent's data without a copy (only its result comes back, pickled).

Forking is safe only in a process that runs no other Python thread: a fork copies none of them,
and a lock one of them held would stay locked in the child. So the CLI forks; the app (whose
server runs many threads) does the same work in its one process, in the same order.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from curator.errors import JobError


def can_fork() -> bool:
    return threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()


class SecondProcessDied(JobError, RuntimeError):
    """The forked process ended without a result (killed, say for memory); one line."""


@contextmanager
def beside(fn: Callable, *args, what: str = "the second process") -> Iterator[Callable[[], object]]:
    """Run `fn(*args)` beside the body of the `with`: in a forked process where `can_fork()`,
    else in this one when its result is asked for. Yields `result()`, which returns what `fn`
    returned or raises what it raised; `what` names the process if it dies."""
    if not can_fork():
        yield lambda: fn(*args)
        return
    receive, send = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=_run, args=(send, os.getpid(), fn, args))
    gc.freeze()  # the child collects (and finalizes) nothing the parent made
    try:
        child.start()
    finally:
        gc.unfreeze()
    send.close()

    def result():
        try:
            status, value = receive.recv()
        except EOFError:
            child.join()
            raise SecondProcessDied(f"{what} died (exit code {child.exitcode})") from None
        if status == "error":
            raise value
        return value

    try:
        yield result
    finally:
        receive.close()
        child.join()


def _run(send, parent: int, fn: Callable, args: tuple) -> None:
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()
    try:
        outcome = ("ok", fn(*args))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
        outcome = ("error", exc)
    # A parent that stopped listening (a broken pipe) failed first, and says why itself.
    with send, suppress(BrokenPipeError):
        try:
            send.send(outcome)
        except Exception as exc:  # noqa: BLE001 - a result or exception pickle cannot take
            send.send(("error", RuntimeError(f"second process: {type(exc).__name__}: {exc}")))


def _exit_when_orphaned(parent: int, every: float = 0.2) -> None:
    """The child's watch on its parent: once the parent is gone (killed, say), nobody will read
    the result, so the child ends instead of running on, reparented, holding its memory."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)
