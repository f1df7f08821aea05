"""engine.memory: freed tensor memory stays in the process instead of being mapped afresh every batch."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = [
    pytest.mark.processes,  # mallopt is process-wide: each case gets a fresh interpreter
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps (the product runs on Linux)"),
]

# Where a 64 MiB tensor (a large batch buffer) lives: on the heap, which keeps freed blocks for
# reuse, or in an mmap of its own, which is unmapped when freed and faulted in again next time.
WHERE = """
import sys, torch
from engine.memory import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
buffer = torch.ones(16 << 20)
address = buffer.data_ptr()
for line in open("/proc/self/maps"):
    low, high = (int(part, 16) for part in line.split()[0].split("-"))
    if low <= address < high:
        print(kept, "heap" if line.rstrip().endswith("[heap]") else "mmap")
"""


def _where(mode: str) -> list[str]:
    return subprocess.run([sys.executable, "-c", WHERE, mode], capture_output=True, text=True, check=True).stdout.split()


def test_a_large_buffer_comes_from_the_heap_once_memory_is_kept():
    assert _where("keep") == ["True", "heap"]


def test_by_default_a_large_buffer_is_a_mapping_of_its_own():
    """The control: what the setting changes (such a mapping is returned to the OS when freed)."""
    assert _where("default") == ["None", "mmap"]
