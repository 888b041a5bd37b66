"""How much memory one call takes: torch's allocator peak, and the process's peak resident memory.

Both measure a call ``fn()`` in the current process; :mod:`benchmarks.measure` runs the OSRA
memory case in a fresh subprocess so that nothing else the bench did is resident.
"""
from __future__ import annotations

import contextlib
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any, Callable

from fusionlab._torch_internals import profiler_event_types

__all__ = ["allocator_peak", "rss_growth", "mem_available"]


@contextlib.contextmanager
def _quiet_stderr():
    # torch's profiler (kineto) writes two "USDT: profiler_start/stop" lines to the C-level stderr
    # on every use; the profiled call has already run once without it, so nothing else is hidden
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def allocator_peak(fn: Callable[[], Any]) -> int | None:
    """Peak bytes allocated through torch's CPU allocator while ``fn()`` runs (tensors alive
    before the call, e.g. inputs and weights, are not counted; what ``fn`` returns is).

    From :mod:`torch.profiler` with ``profile_memory=True``: the running sum of its allocation
    and free events in time order, maximised. None if this torch build does not expose them.
    """
    from torch.profiler import ProfilerActivity, profile

    _EventType = profiler_event_types()
    if _EventType is None:  # a torch build without the profiler's event types
        return None
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = fn()
    del out
    events: list[tuple[int, int]] = []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        if node.tag == _EventType.Allocation:
            events.append((node.start_time_ns, int(node.extra_fields.alloc_size)))
        stack.extend(node.children)
    if not events:
        return 0
    live = peak = 0
    for _, size in sorted(events):
        live += size
        peak = max(peak, live)
    return peak


def mem_available() -> int | None:
    """The system's available memory in bytes (Linux ``MemAvailable``); None elsewhere."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _status_bytes(field: str) -> int | None:
    """A size from /proc/self/status (``VmSize``, ``VmRSS``, ``VmHWM``), in bytes; None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Give freed heap memory back to the system and restart the peak-RSS counter (Linux ≥ 4.0)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # glibc: freed memory would otherwise be reused unseen
        Path("/proc/self/clear_refs").write_text("5")  # 5: reset VmHWM to the current RSS
    except OSError:
        return False
    return True


def rss_growth(fn: Callable[[], Any], *, budget: int | None = None, why: str = "") -> dict[str, Any]:
    """The process's peak resident memory during ``fn()`` minus its resident memory just before.

    Linux: freed heap is returned first (``malloc_trim``) and the peak counter ``VmHWM`` reset
    through ``/proc/self/clear_refs``; elsewhere the growth of ``ru_maxrss`` (a lower bound:
    memory freed earlier may be reused unseen). ``budget`` bytes, if given, is the most the call may
    add to the address space (``RLIMIT_AS``, restored after): past it torch's allocator fails
    cleanly and the result is ``{"skipped": …}`` (``why`` says what the budget is) instead of the
    kernel killing a process of the machine's other users.
    Returns ``{"rss_delta": bytes, "seconds": s, "method": …}``.
    """
    vsize = _status_bytes("VmSize")
    limit = resource.getrlimit(resource.RLIMIT_AS) if budget is not None and vsize is not None else None
    exact = _reset_peak_rss() and _status_bytes("VmHWM") is not None
    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: KiB on Linux, bytes on macOS
    before = _status_bytes("VmRSS") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit
    if limit is not None:
        resource.setrlimit(resource.RLIMIT_AS, (vsize + budget, limit[1]))
    try:
        start = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - start
    except (RuntimeError, MemoryError) as err:
        if limit is None:
            raise
        message = " ".join(str(err).split())[:300]
        return {"skipped": f"more than {budget / 2**30:.1f} GiB{why} ({message})"}
    finally:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, limit)
    after = _status_bytes("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit
    del out
    return {"rss_delta": after - before, "seconds": seconds,
            "method": "VmHWM - VmRSS" if exact else "ru_maxrss growth"}
