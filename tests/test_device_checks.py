"""``scripts/device_checks.py``, the one prepared run on a GPU machine: every step is
recorded whatever its outcome, and a failed or stopped step does not stop the next."""

import importlib.util
import json
import os
import pathlib
import sys

SCRIPT = pathlib.Path(__file__).parents[1] / "scripts" / "device_checks.py"


def _script():
    spec = importlib.util.spec_from_file_location("device_checks", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_failed_or_stopped_step_is_recorded(tmp_path):
    checks = _script()
    env = dict(os.environ)
    failed = checks.run_step("fails", [sys.executable, "-c", "print('partial'); exit(3)"],
                             str(tmp_path), 30, env)
    assert failed["exit"] == 3 and "partial" in failed["tail"]
    assert (tmp_path / "fails.log").read_text().splitlines()[-1] == "partial"
    stopped = checks.run_step("sleeps", [sys.executable, "-c", "import time; time.sleep(30)"],
                              str(tmp_path), 0.5, env)
    assert stopped["exit"] == "stopped after its limit of 0 s"
    assert stopped["wall_s"] < 20


def test_host_step_records_the_machine(tmp_path):
    checks = _script()
    assert checks.main(["--out", str(tmp_path), "--steps", "host", "--budget", "60"]) == 0
    report = json.loads((tmp_path / "device-checks.json").read_text())
    machine = report["steps"]["host"]["machine"]
    assert machine["cores"] == os.cpu_count() and machine["cpu"]
    assert machine["torch"].split("+")[0] == __import__("torch").__version__.split("+")[0]


def test_a_spent_budget_skips_the_remaining_steps(tmp_path):
    checks = _script()
    assert checks.main(["--out", str(tmp_path), "--steps", "host", "cpu-eager",
                        "--budget", "5"]) == 1
    steps = json.loads((tmp_path / "device-checks.json").read_text())["steps"]
    assert steps == {"host": {"exit": "not run: the budget was spent"},
                     "cpu-eager": {"exit": "not run: the budget was spent"}}


def test_a_failed_step_does_not_stop_the_next(tmp_path, monkeypatch):
    checks = _script()
    ran = []

    def step(name, command, out, limit, env):
        ran.append(name)
        return {"command": command, "exit": 1 if name == "host" else 0, "wall_s": 0.0,
                "cpu_s": 0.0, "tail": ""}

    monkeypatch.setattr(checks, "run_step", step)
    status = checks.main(["--out", str(tmp_path), "--steps", "host", "gpu-tests", "gpu-bench"])
    steps = json.loads((tmp_path / "device-checks.json").read_text())["steps"]
    assert status == 1 and ran == ["host", "gpu-tests", "gpu-bench"]
    assert [steps[n]["exit"] for n in ran] == [1, 0, 0]
