"""Training yields the CPU to the web pages (the threads that train run at a lower priority), and warms up before its first job."""

from __future__ import annotations

import contextlib
import logging
import os
import threading

from engine.memory import keep_freed_memory


def lower_training_priority(niceness: int) -> None:
    """Give the calling thread (and the PyTorch threads it starts later) the niceness ``niceness``.

    On Linux a niceness belongs to a thread, and threads inherit it from the thread that creates
    them, so calling this first thing in a training thread also covers its intra-op worker threads.
    Never raises priority; does nothing where the OS refuses.
    """
    if niceness <= 0 or not hasattr(os, "setpriority"):
        return
    tid = threading.get_native_id()
    with contextlib.suppress(OSError):
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if niceness > current:
            os.setpriority(os.PRIO_PROCESS, tid, niceness)


def prepare_training(settings) -> None:
    """What every thread that trains does first: lower its priority, apply HYPERQUEST_TRAINING_THREADS."""
    lower_training_priority(settings.training_niceness)
    keep_freed_memory()
    if settings.training_threads:
        import torch

        # Measured on 2 cores with 300 simulated students: one training thread did not make pages
        # faster (p95 675 -> 680 ms) but trained 5x fewer epochs, so the default keeps all cores.
        torch.set_num_threads(settings.training_threads)


def warm_up_training(settings, device: str, log: logging.Logger) -> None:
    """Unless HYPERQUEST_WARM_UP is off, train a tiny epoch now, so no player's first epoch pays this process's
    one-off costs (engine.warmup); a failure is logged, never raised (the first job pays them instead)."""
    if not settings.warm_up:
        return
    from engine.warmup import warm_up

    try:
        log.info("training process %s warmed up in %.1f s", os.getpid(), warm_up(device))
    except Exception:
        log.exception("could not warm the training process up")
