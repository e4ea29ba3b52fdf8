"""asv benchmarks for convac, one module per package part it measures.

Conventions (ARCHITECTURE.md, "Conventions"):

- construction happens in ``setup``; invalid parameter combinations, and parts of the
  package that the benchmarked commit does not have yet, raise ``NotImplementedError``
  in ``setup`` so asv skips them;
- every network is seeded and torch runs on one thread (``_common.THREADS``);
- asv 0.6.6 counts every number as lower-is-better (``track_*`` included), so every
  tracked metric is either lower-is-better or a number for which *any* change is a bug;
  each benchmark's docstring says which, and ``convac gate`` applies the matching rule
  (by the benchmark's ``unit``, see :mod:`convac.gate`).
"""
