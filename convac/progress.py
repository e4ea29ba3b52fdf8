"""Progress bars and the one-line summary of a command.

Every command that can take more than a few seconds shows a tqdm bar on stderr (off when
stderr is not a terminal, or with ``quiet``) and ends with one line: what it wrote where,
how long it took and the CPU time it burned (:func:`summary_line`).
"""

from __future__ import annotations

import os
import resource
import sys
import time
from dataclasses import dataclass, field

from tqdm import tqdm

__all__ = ["bar", "Phases", "Clock", "wrote", "summary_line"]


def bar(iterable=None, *, total=None, desc: str | None = None, quiet: bool = False,
        unit: str = "it"):
    """A tqdm bar on stderr; disabled with ``quiet`` or when stderr is not a terminal."""
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr,
                disable=True if quiet else None, dynamic_ncols=True, leave=False)


class Phases:
    """A bar over the phases of a command, naming the phase under way::

        with Phases(3, "report", quiet) as phase:
            phase("curves"); ...
            phase("plots"); ...
            phase("pages"); ...
    """

    def __init__(self, total: int, desc: str, quiet: bool = False):
        self._bar = bar(total=total, desc=desc, quiet=quiet, unit="phase")
        self._started = False

    def __call__(self, name: str) -> None:
        """Close the phase under way (if any) and start ``name``."""
        if self._started:
            self._bar.update(1)
        self._started = True
        self._bar.set_postfix_str(name, refresh=True)

    def close(self) -> None:
        """Close the phase under way and the bar."""
        if self._started:
            self._bar.update(1)
            self._started = False
        self._bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended (dask workers, asv)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@dataclass
class Clock:
    """Wall and CPU time since it was made, and the files a command wrote."""

    wall: float = field(default_factory=time.perf_counter)
    cpu: float = field(default_factory=_cpu_seconds)
    written: list = field(default_factory=list)

    def elapsed(self) -> tuple[float, float]:
        """``(wall seconds, CPU seconds)`` so far."""
        return time.perf_counter() - self.wall, _cpu_seconds() - self.cpu


def wrote(args, *paths) -> None:
    """Record that the command of ``args`` wrote ``paths`` (for its summary line)."""
    clock = getattr(args, "clock", None)
    if clock is not None:
        clock.written.extend(str(p) for p in paths)


def _where(paths) -> str:
    if len(paths) > 3:
        folder = os.path.commonpath([os.path.dirname(p) or "." for p in paths])
        return f"{len(paths)} files in {folder or '.'}"
    return ", ".join(paths)


def summary_line(command: str, clock: Clock, status: int, threads: int) -> str:
    """``convac sweep: wrote a.csv, a.md, a.png in 12.3 s (CPU 11.9 s, 1 thread)``."""
    wall, cpu = clock.elapsed()
    what = f"wrote {_where(clock.written)}" if clock.written else "done"
    if status:
        what = f"exit status {status}" + (f" (wrote {_where(clock.written)})"
                                          if clock.written else "")
    return (f"convac {command}: {what} in {wall:.1f} s (CPU {cpu:.1f} s, {threads} "
            f"thread{'s' if threads != 1 else ''})")
