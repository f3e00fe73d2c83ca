"""How a `labkeeper serve` process lives and stops.

- **Workers never outlive their supervisor.** Each worker asks the kernel to SIGKILL it when
  its parent dies (`prctl(PR_SET_PDEATHSIG)` on Linux) and, everywhere, a thread watches
  `os.getppid()`: whatever kills the supervisor, kill -9 included, its workers stop serving
  (the listening socket they inherited closes with them) and exit within a second. They die
  as any crashed worker does: what they left running is stopped by the next start's
  recovery (futures, kernels, SQL queries, builds).
- **A stop is bounded.** On SIGTERM/SIGINT uvicorn stops accepting and lets requests finish;
  at `graceful_timeout` seconds `GracefulStop` interrupts what still runs (the lifespan's
  `interrupt`: tasks marked interrupted, kernels stopped, queries cancelled, builds killed),
  so the requests waiting on them answer; uvicorn cancels whatever is left a second later.
  A watchdog thread ends the process at the bound plus `HARD_MARGIN` seconds whatever
  happens. The supervisor of `--workers N` forwards the signal and keeps the same bound.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client.multiprocess import mark_process_dead
from uvicorn import Config as UvicornConfig
from uvicorn.supervisors.multiprocess import Multiprocess

from labkeeper.processes import pid_alive

log = logging.getLogger("labkeeper.supervision")

SUPERVISOR_PID_ENV = "LABKEEPER_SUPERVISOR_PID"
PARENT_POLL_SECONDS = 0.2
HARD_MARGIN = 4.0  # the guarantee is the bound plus 5 s; this leaves room to exit
CANCEL_MARGIN = 1.0  # after interrupting, waiting requests get this long to answer
_PR_SET_PDEATHSIG = 1


# -- workers die with their supervisor ------------------------------------------------------


def die_with_parent(expected_parent: int) -> None:
    """In a worker: be killed as soon as the process `expected_parent` is gone."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
                log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        except (OSError, AttributeError):
            log.warning("prctl is not available; watching the parent process instead")
    _exit_if_orphaned(expected_parent)  # the parent may have died before prctl took effect
    threading.Thread(target=_watch_parent, args=(expected_parent,), name="parent-watch", daemon=True).start()


def _watch_parent(expected_parent: int) -> None:
    while True:
        time.sleep(PARENT_POLL_SECONDS)
        _exit_if_orphaned(expected_parent)


def _exit_if_orphaned(expected_parent: int) -> None:
    if os.getppid() != expected_parent:
        os.kill(os.getpid(), signal.SIGKILL)


def worker_parent() -> int | None:
    """The supervisor's pid when this process is one of its workers, else None."""
    value = os.environ.get(SUPERVISOR_PID_ENV, "")
    return int(value) if value.isdigit() and int(value) != os.getpid() else None


class WorkerConfig(UvicornConfig):
    """uvicorn's config, which the supervisor pickles to each worker it spawns: unpickled
    in the worker (first thing, before the app is imported), it ties the worker to the
    supervisor, so that a worker still starting up dies with it too."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        parent = worker_parent()
        if parent is not None:
            die_with_parent(parent)


# -- a bounded stop, inside a serving process ------------------------------------------------


class GracefulStop:
    """Wraps the serving process's SIGTERM/SIGINT handlers (uvicorn's, left in charge) to
    start the clock of a bounded stop: `interrupt` at the bound, a hard exit after it."""

    def __init__(self, bound: float, interrupt: Callable[[], Awaitable[None]]) -> None:
        self.bound = bound
        self._interrupt = interrupt
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[int, Any] = {}
        self._started: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def install(self) -> bool:
        """Install on the serving loop; False where signals cannot be handled (a thread)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        self._loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._on_signal)
        return True

    def uninstall(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for sig, handler in self._previous.items():
            if signal.getsignal(sig) == self._on_signal:
                signal.signal(sig, handler)
        self._previous.clear()

    def _on_signal(self, sig: int, frame: Any) -> None:
        previous = self._previous.get(sig)
        if callable(previous):
            previous(sig, frame)
        if self._started is None and self._loop is not None:
            self._started = time.monotonic()
            self._loop.call_soon_threadsafe(self._arm)
            hard_exit_after(self.bound + HARD_MARGIN)

    def _arm(self) -> None:
        assert self._loop is not None
        self._timer = self._loop.call_later(self.bound, self._fire)

    def _fire(self) -> None:
        log.warning("graceful stop: %.0f s passed, interrupting what still runs", self.bound)
        assert self._loop is not None
        self._loop.create_task(self._interrupt())


def hard_exit_after(seconds: float) -> None:
    """End this process after `seconds`, whatever it is doing then."""

    def expire() -> None:
        time.sleep(seconds)
        log.error("stop took longer than %.0f s: exiting now", seconds)
        logging.shutdown()
        os._exit(1)

    threading.Thread(target=expire, name="stop-watchdog", daemon=True).start()


# -- the supervisor of --workers N -------------------------------------------------------------


class Supervisor(Multiprocess):
    """uvicorn's supervisor (it replaces a worker that dies) with a bounded stop: the
    workers get SIGTERM as before, and are killed if they are still there at the bound
    plus the margin."""

    def __init__(self, *args: Any, graceful_timeout: float = 30.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.graceful_timeout = graceful_timeout
        self._stop_armed = False
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_stop_signal)

    def keep_subprocess_alive(self) -> None:
        super().keep_subprocess_alive()
        forget_dead_workers_metrics({process.pid for process in self.processes})

    def _on_stop_signal(self, sig: int, frame: Any) -> None:
        self.signal_queue.append(sig)  # handled by uvicorn's loop within half a second
        if self._stop_armed:
            return
        self._stop_armed = True
        # The workers get their SIGTERM up to 0.5 s from now and bound themselves; this is
        # for a worker that does not.
        deadline = time.monotonic() + self.graceful_timeout + HARD_MARGIN + 0.7

        def expire() -> None:
            time.sleep(max(0.0, deadline - time.monotonic()))
            log.error("workers still running at the end of the stop: killing them")
            for process in list(self.processes):
                if process.pid is not None:
                    try:
                        os.kill(process.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            logging.shutdown()
            os._exit(1)

        threading.Thread(target=expire, name="stop-watchdog", daemon=True).start()


def forget_dead_workers_metrics(live: set[int | None]) -> None:
    """Drop the per-process gauges of workers that are gone (`mark_process_dead`), so that a
    scrape never reports a dead worker's last value as live (server/metrics.py). Counters and
    histograms stay: what a dead worker counted was counted."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")  # prometheus_client's own setting
    if not folder:
        return
    try:
        names = os.listdir(folder)
    except OSError:
        return
    pids = {name.rsplit("_", 1)[-1].removesuffix(".db") for name in names if name.startswith("gauge_live")}
    for pid in pids:
        if pid.isdigit() and int(pid) not in live and not pid_alive(int(pid)):
            mark_process_dead(int(pid), folder)
