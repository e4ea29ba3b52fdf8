"""asv benchmarks for convac, one module per package part it measures.

Conventions (ARCHITECTURE.md, "Conventions"):

- construction happens in ``setup``; invalid parameter combinations, and parts of the
  package that the benchmarked commit does not have yet, raise ``NotImplementedError``
  in ``setup`` so asv skips them;
- every network is seeded and torch runs on one thread (``_common.THREADS``);
- networks and tensors come from the cached builders of ``_common`` (``cp_net``,
  ``ht_net``, ``convac_net``, ``ht_tensor``, ``deep_net``), called in ``setup`` or
  ``setup_cache``, never in a timed body; what they return is shared, so a benchmark that
  trains or writes weights works on a ``copy.deepcopy`` (tests/test_bench_common.py);
- a number several benchmarks (or parameter combinations) read is computed once, in
  ``setup_cache``, through ``_common.cache_each``; ``setup`` takes it with
  ``_common.cached``, which skips where the computation raised ``NotImplementedError``
  (a ``setup_cache`` that raises fails every benchmark of its class in asv; through
  ``cache_each`` an error fails its own combination only).  Each class
  writes its own ``setup_cache`` (asv keys the cache by the function's source line, so
  an inherited one would be shared between classes);
- attributes repeat no asv default (``timeout``: ``default_benchmark_timeout`` of
  asv.conf.json);
- asv 0.6.6 counts every number as lower-is-better (``track_*`` included), so every
  tracked metric is either lower-is-better or a number for which *any* change is a bug;
  each benchmark's docstring says which, and ``convac gate`` applies the matching rule
  (by the benchmark's ``unit``, see :mod:`convac.bench.gate`).
"""
