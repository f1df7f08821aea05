"""Training threads run at a lower OS priority than the threads serving pages."""

import os
import threading

import pytest

from app.jobs.priority import lower_training_priority


def _niceness_in_thread(niceness: int) -> tuple[int, int]:
    seen = {}

    def body():
        lower_training_priority(niceness)
        seen["inner"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        child = threading.Thread(target=lambda: seen.setdefault("child", os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        child.start()
        child.join()

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    return seen["inner"], seen["child"]


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="POSIX thread priorities")
def test_only_the_calling_thread_and_its_children_are_lowered():
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    inner, child = _niceness_in_thread(before + 7)
    assert inner == before + 7 and child == before + 7
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before  # the caller's thread is untouched


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="POSIX thread priorities")
def test_priority_is_never_raised():
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert _niceness_in_thread(0) == (before, before)
