"""The embedded runners: executors on server threads (ThreadRunner) or in child processes (ProcessRunner, the default).

Training a small network is mostly Python between short tensor operations, so on a thread inside
the server it holds the interpreter lock most of the time and every page waits for it (300
simulated students: page p95 over a second). In child processes it competes for CPU only, at a
lower priority, so pages come first. Either way there is one executor per core; each serves every
training lane in priority order and they share the CPU budget (app.jobs.signals), so players'
epochs run first, several at once when the cores allow, and background work fills what is left.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
import socket
import threading
import time
import types
import uuid

from sqlalchemy.orm import sessionmaker

from app.jobs import lease
from app.jobs.executor import Executor
from app.jobs.keeper import LeaseKeeper, beat_interval
from app.jobs.lanes import IO, LANES, TRAINING_LANES
from app.jobs.priority import lower_training_priority, prepare_training, warm_up_training
from app.jobs.queue import on_new_work
from app.jobs.runners.io_lane import IoLane
from app.jobs.signals import Signals
from app.live.notify import Notifier
from app.settings import Settings

log = logging.getLogger(__name__)

#: Put on the nudge queue to end the relay thread.
STOP = None
#: How often a child process checks that the server that started it still runs.
PARENT_CHECK_SECONDS = 1.0
#: How often the server checks its child processes when no progress arrives.
SUPERVISE_SECONDS = 1.0


def cpu_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def executor_count(settings: Settings) -> int:
    """Executors of an embedded runner: one per core (players' epochs run side by side), or the setting."""
    return settings.training_processes or cpu_cores()


def requeue_dead_holders(session_factory: sessionmaker) -> list[int]:
    """Jobs held by processes of this host that are gone (a killed server's): pending again now."""
    with session_factory() as db:
        dead = lease.requeue_dead(db, lease.process_is_dead)
        db.commit()
    return dead


def _thread_context() -> types.SimpleNamespace:
    """threading's stand-ins for the multiprocessing primitives Signals is built from."""
    return types.SimpleNamespace(Condition=threading.Condition, Array=lambda _code, size, lock=False: [0] * size)


class _Embedded:
    """What both embedded runners share: re-queueing at start, the lease keeper, the I/O lane, new-work wake-ups."""

    #: Always True: there is no broker to lose.
    healthy = True

    def __init__(self, session_factory: sessionmaker, settings: Settings, notifier: Notifier, device: str = "cpu",
                 lanes=TRAINING_LANES, slots: int | None = None, io_lane: bool = True) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.notifier = notifier
        self.device = device
        self.lanes = tuple(lanes)
        self.slots = slots or executor_count(settings)
        self._keeper = LeaseKeeper(session_factory, beat_interval(settings.stale_after_seconds))
        self._io = IoLane(session_factory, settings, self._keeper) if io_lane else None
        self._unlisten = None
        self.signals: Signals | None = None

    def start(self) -> None:
        """Re-queue what a dead process held, then start the executors and listen for new work."""
        requeue_dead_holders(self.session_factory)
        self._keeper.start()
        self._start_executors()
        if self._io is not None:
            self._io.start()
        self._unlisten = on_new_work(self.session_factory, self.new_work)

    def new_work(self, jobs: list[tuple[int, str]]) -> None:
        """Wake the executors of the new jobs' lanes."""
        lanes = {lane for _, lane in jobs}
        if IO in lanes and self._io is not None:
            self._io.wake()
        if lanes & set(self.lanes) and self.signals is not None:
            self.signals.new_work(lanes & set(self.lanes))

    def stop(self, timeout: float = 60.0) -> None:
        """Stop; a job in the middle of an epoch is released at its next yield point and run again later."""
        if self._unlisten is None:
            return  # never started, or stopped already
        self._unlisten()
        self._unlisten = None
        if self._io is not None:
            self._io.stop()
        self._stop_executors(timeout)
        self._keeper.stop()

    def alive(self) -> bool:
        """True while the executors serve (a dead one is replaced, so until ``stop``)."""
        return self.signals is not None

    def _start_executors(self) -> None:
        raise NotImplementedError

    def _stop_executors(self, timeout: float) -> None:
        raise NotImplementedError


class ThreadRunner(_Embedded):
    """Executors on daemon threads of the server (``HYPERQUEST_EMBEDDED_RUNNER=thread``): starts instantly (tests)."""

    def _start_executors(self) -> None:
        self._stopping = threading.Event()
        self.signals = Signals(_thread_context(), self.slots, cpu_cores())
        token = uuid.uuid4().hex[:8]
        self._threads = []
        for slot in range(self.slots):
            executor = Executor(self.session_factory, self.settings, self.device, self.lanes,
                                lease.holder_id(f"t{token}-{slot}"), self._keeper, publish=self._publish,
                                stopping=self._stopping, signals=self.signals, slot=slot,
                                share_cores=False)  # one process: torch's thread count is shared anyway
            thread = threading.Thread(target=self._serve, args=(executor,), name=f"hq-executor-{slot}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, executor: Executor) -> None:
        prepare_training(self.settings)
        executor.serve()

    def _publish(self, run_id: int, _boundary: bool) -> None:
        self.notifier.publish(run_id)

    def _stop_executors(self, timeout: float) -> None:
        self._stopping.set()
        self.signals.new_work(self.lanes)
        for thread in self._threads:
            thread.join(timeout)
        self.signals = None


class ProcessRunner(_Embedded):
    """Executors in child processes of the server (the embedded default), supervised and replaced if they die."""

    def _start_executors(self) -> None:
        context = multiprocessing.get_context("spawn")  # never fork a server full of threads
        self._context = context
        self._stopping = context.Event()
        self.signals = Signals(context, self.slots, cpu_cores())
        self._nudges = context.Queue()
        self._processes: list[multiprocessing.process.BaseProcess | None] = [None] * self.slots
        for slot in range(self.slots):
            self._spawn(slot)
        self._relay = threading.Thread(target=self._relay_and_supervise, name="hq-executor-relay", daemon=True)
        self._relay.start()

    def _spawn(self, slot: int) -> None:
        process = self._context.Process(
            target=executor_process, name=f"hq-executor-{slot}", daemon=True,
            args=(self.settings, self.device, self.lanes, self.signals, slot, self._nudges, self._stopping, os.getpid()),
        )
        process.start()
        self._processes[slot] = process

    def _relay_and_supervise(self) -> None:
        """Pass progress on to the live pages; replace a child that died (its jobs are re-queued at once)."""
        next_check = time.monotonic() + SUPERVISE_SECONDS
        while True:
            try:
                run_id = self._nudges.get(timeout=SUPERVISE_SECONDS)
            except queue.Empty:
                run_id = None
            else:
                if run_id is STOP:
                    return
                self.notifier.publish(run_id)
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + SUPERVISE_SECONDS
                self._replace_dead()

    def _replace_dead(self) -> None:
        if self._stopping.is_set():
            return
        for slot, process in enumerate(self._processes):
            if process is None or process.is_alive():
                continue
            log.error("training process %s died (exit code %s); starting a new one", process.pid, process.exitcode)
            host, pid = socket.gethostname(), process.pid
            with self.session_factory() as db:
                lease.requeue_dead(db, lambda holder: lease.holder_process(holder) == (host, pid))
                db.commit()
            self.signals.clear(slot)
            self._spawn(slot)
            self.signals.new_work(self.lanes)

    def _stop_executors(self, timeout: float) -> None:
        self._stopping.set()
        self.signals.new_work(self.lanes)
        deadline = time.monotonic() + timeout
        for process in self._processes:
            if process is not None:
                process.join(max(0.0, deadline - time.monotonic()))
        for process in self._processes:
            if process is not None and process.is_alive():
                process.terminate()
                process.join(5)
        self._nudges.put(STOP)
        self._relay.join(5)
        self._nudges.close()
        self._nudges.join_thread()
        for process in self._processes:
            if process is not None:
                process.close()
        # Drop the shared primitives now, so their semaphores are released before the server exits.
        self._processes, self.signals, self._nudges, self._stopping = [], None, None, None


def executor_process(settings: Settings, device: str, lanes, signals: Signals, slot: int, nudges, stopping,
                     parent_pid: int) -> None:
    """A child process of the embedded runner: one executor until told to stop or its server is gone."""
    from app.db.session import make_engine, make_session_factory

    # Ctrl-C reaches the whole process group: the server handles it and stops us through ``stopping``.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    lower_training_priority(settings.training_niceness)
    prepare_training(settings)
    session_factory = make_session_factory(make_engine(settings.database_url))
    keeper = LeaseKeeper(session_factory, beat_interval(settings.stale_after_seconds)).start()
    # Jobs this process enqueues (the branches an epoch planned, a dataset's references) wake the others.
    on_new_work(session_factory, lambda jobs: signals.new_work({lane for _, lane in jobs if lane in LANES} & set(lanes)))
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), name="hq-parent-watch", daemon=True).start()
    executor = Executor(session_factory, settings, device, lanes, lease.holder_id(f"p{slot}"), keeper,
                        publish=lambda run_id, _boundary: nudges.put(run_id), stopping=stopping, signals=signals,
                        slot=slot)
    warm_up_training(settings, device, log)
    executor.serve()
    keeper.stop()


def _exit_with_parent(parent_pid: int) -> None:
    # A killed server leaves its training processes behind otherwise; their jobs are re-queued by
    # the next server's start (their holder process is gone).
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)
