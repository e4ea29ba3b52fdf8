"""The thread policy (convac.threads): --threads, CONVAC_THREADS, default; every pool;
children; the commands, dask workers and the asv suite apply it."""

import os
import re
import subprocess
import sys

import pytest
import torch
import torch._inductor.config as inductor
from threadpoolctl import threadpool_info

from convac import threads
from convac.cli import main
from convac.experiments.runner import worker_env
from convac.validate import InvalidValueError


@pytest.fixture
def policy(monkeypatch):
    """Restores the session's policy (one thread) and environment after the test."""
    for var in (*threads.POOL_VARIABLES, threads.ENV):
        monkeypatch.setenv(var, os.environ.get(var, "1"))
    yield monkeypatch
    threads.apply(1)


def test_argument_beats_environment_beats_default(policy):
    policy.setenv(threads.ENV, "3")
    assert threads.resolve(2) == 2
    assert threads.resolve() == 3
    policy.delenv(threads.ENV)
    assert threads.resolve() == threads.DEFAULT_THREADS == 1


@pytest.mark.parametrize("raw", ["0", "-2", "two", "1.5"])
def test_a_bad_environment_value_is_named(policy, raw):
    policy.setenv(threads.ENV, raw)
    with pytest.raises(InvalidValueError, match=rf"CONVAC_THREADS={re.escape(repr(raw))} "
                                                "must be a positive integer"):
        threads.resolve()


def test_a_bad_argument_is_refused():
    with pytest.raises(InvalidValueError, match="threads must be >= 1, got 0"):
        threads.resolve(0)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="libraries cap threads at the cores")
def test_apply_sets_torch_blas_and_the_environment(policy):
    assert threads.apply(2) == 2
    assert torch.get_num_threads() == 2
    for pool in threadpool_info():  # every BLAS/OpenMP library loaded in this process
        assert pool["num_threads"] == 2, pool
    for var in (*threads.POOL_VARIABLES, threads.ENV):
        assert os.environ[var] == "2"
    assert worker_env() == threads.environment(2)  # dask workers start with the same


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="libraries cap threads at the cores")
def test_children_start_with_the_policy(policy):
    code = ("import torch, threadpoolctl; print(torch.get_num_threads(), "
            "sorted({p['num_threads'] for p in threadpoolctl.threadpool_info()}))")
    for n in (2, 1):  # a child that ignored the environment would see the same twice
        threads.apply(n)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=600, check=True).stdout.split(maxsplit=1)
        assert out[0] == str(n) and out[1].strip() == f"[{n}]", (n, out)


@pytest.mark.parametrize(("argv", "env", "expected"), [
    (["--threads", "2"], None, "2 threads"),
    ([], "2", "2 threads"),
    ([], None, "1 thread"),
])
def test_every_command_applies_the_policy(policy, capsys, argv, env, expected):
    if env is None:
        policy.delenv(threads.ENV)
    else:
        policy.setenv(threads.ENV, env)
    seen = []
    policy.setattr("convac.cli.table.format_table",
                   lambda rows: seen.append(torch.get_num_threads()) or "")
    assert main(["table", "--sizes", "4", *argv]) == 0
    assert seen == [int(expected.split()[0])]
    assert capsys.readouterr().err.strip().endswith(f", {expected})")


def test_experiment_subcommands_take_the_common_options(policy, capsys):
    policy.delenv(threads.ENV)
    seen = []
    policy.setattr("convac.cli.experiment_list._list",
                   lambda args: seen.append((torch.get_num_threads(), args.quiet)) or 0)
    assert main(["experiment", "list", "--threads", "2", "--quiet"]) == 0
    assert main(["experiment", "--threads", "2", "list"]) == 0
    assert seen == [(2, True), (2, False)]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("convac experiment list: done in ")


def test_the_asv_suite_applies_the_policy(policy):
    code = ("import sys; sys.path.insert(0, '.'); import benchmarks._common as c, torch, "
            "threadpoolctl; print(c.THREADS, torch.get_num_threads(), "
            "sorted({p['num_threads'] for p in threadpoolctl.threadpool_info()}))")
    env = {k: v for k, v in os.environ.items()
           if k not in (*threads.POOL_VARIABLES, threads.ENV)}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600, check=True, env=env, cwd=root).stdout
    assert out.split(maxsplit=2) == ["1", "1", "[1]\n"], out


def test_apply_keeps_compiled_kernels_per_cpu_capability(policy):
    """Kernels compiled under ATEN_CPU_CAPABILITY=default are scalar and torch's cache does
    not key them on it: every capability gets its own directory, a user's choice stays."""
    policy.delenv(threads.COMPILE_CACHE_ENV, raising=False)
    threads.apply(1)
    capability = torch.backends.cpu.get_cpu_capability().lower()
    assert os.environ[threads.COMPILE_CACHE_ENV] == threads.compile_cache_dir()
    assert threads.compile_cache_dir().endswith(os.sep + f"cpu-{capability}")
    policy.setenv(threads.COMPILE_CACHE_ENV, "/somewhere/else")
    threads.apply(1)
    assert os.environ[threads.COMPILE_CACHE_ENV] == "/somewhere/else"
    code = ("import os, torch; print(torch.backends.cpu.get_cpu_capability(), "
            "os.environ['TORCHINDUCTOR_CACHE_DIR'])")
    policy.delenv(threads.COMPILE_CACHE_ENV)
    dirs = set()
    for env in ({}, {"ATEN_CPU_CAPABILITY": "default"}):
        child = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
        out = subprocess.run([sys.executable, "-c", "from convac import threads; "
                              "threads.apply(1); " + code], capture_output=True, text=True,
                             timeout=600, check=True, env={**child, **env}).stdout.split()
        assert out[1].endswith(f"cpu-{out[0].lower()}"), out
        dirs.add(out[1])
    assert len(dirs) == 2 or torch.backends.cpu.get_cpu_capability() == "DEFAULT"


@pytest.mark.parametrize("variable, user_value", [
    (threads.COMPILE_FP_CONTRACT_ENV, "on"),  # -ffp-contract: fused multiply-adds
    (threads.COMPILE_HORIZONTAL_FUSION_ENV, "8"),  # nodes per loop
])
def test_apply_sets_inductors_cpp_settings(policy, variable, user_value):
    """Inductor's C++ settings get convac's value (in the environment, for inductor loaded
    later or in a child, and in its config when already loaded); a user's choice stays."""
    attribute, value = threads.COMPILE_SETTINGS[variable]
    policy.delenv(variable, raising=False)
    before = getattr(inductor.cpp, attribute)
    kind = type(before)
    try:
        setattr(inductor.cpp, attribute, kind(user_value))
        threads.apply(1)
        assert os.environ[variable] == value
        assert getattr(inductor.cpp, attribute) == kind(value)
        policy.setenv(variable, user_value)
        threads.apply(1)
        assert getattr(inductor.cpp, attribute) == kind(user_value)
    finally:
        setattr(inductor.cpp, attribute, before)
    code = ("from convac import threads; threads.apply(1); import torch._inductor.config as c; "
            f"print(c.cpp.{attribute})")
    policy.delenv(variable)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600, check=True).stdout.split()
    assert out == [value]


def test_apply_skips_a_setting_this_torch_lacks(policy, monkeypatch):
    """A torch whose inductor has no such C++ setting (older than this project's) compiles
    as it would: the variable is still set, nothing raises."""
    variable = "CONVAC_TEST_NO_SUCH_INDUCTOR_SETTING"
    policy.delenv(variable, raising=False)
    monkeypatch.setattr(threads, "COMPILE_SETTINGS",
                        {variable: ("no_such_setting_in_this_torch", "1")})
    threads.apply(1)
    assert os.environ[variable] == "1" and not hasattr(inductor.cpp,
                                                         "no_such_setting_in_this_torch")
