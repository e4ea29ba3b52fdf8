"""A cap on the test process's address space, so that a bad input that would allocate
gigabytes fails fast (MemoryError / RuntimeError) instead of swapping a shared machine."""

from __future__ import annotations

import contextlib

try:
    import resource
except ImportError:  # not on Linux/macOS: no cap
    resource = None

__all__ = ["memory_cap", "CAP_AVAILABLE"]

CAP_AVAILABLE = resource is not None


def _vm_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise OSError("VmSize not in /proc/self/status")


@contextlib.contextmanager
def memory_cap(extra_bytes: int = 1 << 30):
    """At most ``extra_bytes`` more virtual memory inside the block (restored after)."""
    if resource is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _vm_bytes() + extra_bytes
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
