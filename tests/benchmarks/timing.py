"""Helpers for ratio benchmarks: a baseline timed in the same process as the subject."""

import time


def best_time(fn, repeat: int = 5, number: int = 1) -> float:
    """Best wall-clock seconds per call of ``fn`` over ``repeat`` rounds of ``number`` calls."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def record_ratio(benchmark, name: str, subject: float, baseline: float, goal: str) -> float:
    """Store ``subject / baseline`` (seconds) with its goal in the benchmark's extra info."""
    ratio = subject / baseline
    benchmark.extra_info.update({
        f"{name}_subject_s": subject, f"{name}_baseline_s": baseline,
        f"{name}_ratio": ratio, f"{name}_goal": goal,
    })
    print(f"\n{name}: subject {subject:.4g} s, baseline {baseline:.4g} s, ratio {ratio:.3g} "
          f"(goal: {goal})")
    return ratio
