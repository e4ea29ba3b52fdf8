"""The published report, served on 127.0.0.1, opens in headless Chromium (Debian's
``chromium``, installed by ``.ci/run``): its DOM lists the benchmarks and plot images, and a
screenshot is saved under ``reports/screenshots/``.

Two sources: the tiny asv project of :mod:`asv_tiny` (always), and this repository's own
``reports/results`` when a suite run left results there (``make bench``, ``.ci/run``).
asv's own site is checked too once ``--offline-asv`` made it independent of CDNs.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request

import pytest
from asv_tiny import benchmarked

from convac.bench.report import build_report
from convac.bench.results import list_machines, load_benchmarks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCREENSHOTS = os.path.join(ROOT, "reports", "screenshots")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CONVAC_REQUIRE_BROWSER"):  # make test-all: no silent skip
        pytest.fail("Debian's chromium is not installed: apt-get install -y chromium")
    pytest.skip("Debian's chromium is not installed (.ci/run installs it: "
                "apt-get install -y chromium)")


def _run_chromium(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="convac-chromium-") as profile:
        return subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                               *args], capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    """``serve(folder) -> base URL`` of a loopback HTTP server over ``folder``."""
    servers = []

    def start(folder: str) -> str:
        handler = functools.partial(_Quiet, directory=folder)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _publish(reports: str, results_dir: str, config: str, cwd: str) -> None:
    """``asv publish`` (asv's site in ``reports/html``) and the depth-efficiency page."""
    proc = subprocess.run([sys.executable, "-m", "asv", "publish", "--config", config],
                          cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    build_report(results_dir, os.path.join(reports, "depth-efficiency"),
                 asv_site=os.path.join(reports, "html"))


def _check_page(serve, reports: str, results_dir: str, label: str) -> None:
    base = serve(reports)
    url = f"{base}/depth-efficiency/index.html"
    proc = _run_chromium("--virtual-time-budget=5000", "--dump-dom", url)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert "depth-efficiency report" in dom
    names = load_benchmarks(results_dir)
    assert names, "benchmarks.json lists no benchmark"
    missing = [n for n in names if n not in dom]
    assert not missing, f"benchmarks missing from the page: {missing}"
    images = [p.split('"', 1)[0] for p in dom.split('<img src="')[1:]]
    assert any(i.endswith(".png") for i in images), "no plot image in the DOM"
    for image in images:
        with urllib.request.urlopen(f"{base}/depth-efficiency/{image}", timeout=10) as resp:
            assert resp.status == 200 and resp.read(8) == b"\x89PNG\r\n\x1a\n"
    # asv's own site is published beside it and served too (its scripts come from CDNs)
    with urllib.request.urlopen(f"{base}/html/index.json", timeout=10) as resp:
        index = resp.read().decode()
    assert all(n in index for n in names)
    os.makedirs(SCREENSHOTS, exist_ok=True)
    shot = os.path.join(SCREENSHOTS, f"depth-efficiency-{label}.png")
    if os.path.exists(shot):
        os.remove(shot)
    proc = _run_chromium("--window-size=1400,2400", f"--screenshot={shot}", url)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(shot, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_tiny_project_report_opens_in_chromium(serve):
    _chromium()
    repo = benchmarked()
    reports = os.path.join(repo.root, "reports")
    _publish(reports, repo.results_dir, repo.config, repo.root)
    _check_page(serve, reports, repo.results_dir, "tiny")


@pytest.mark.slow
def test_suite_report_opens_in_chromium(serve, tmp_path):
    _chromium()
    results_dir = os.path.join(ROOT, "reports", "results")
    if not list_machines(results_dir):
        pytest.skip("no asv results in reports/results yet (run `make bench` or .ci/run)")
    reports = str(tmp_path / "reports")
    # publish a copy, so the repository's own reports/html is left as it is
    shutil.copytree(results_dir, os.path.join(reports, "results"))
    from asv.util import load_json

    conf = load_json(os.path.join(ROOT, "asv.conf.json"), js_comments=True)
    conf.update(repo=ROOT, results_dir=os.path.join(reports, "results"),
                html_dir=os.path.join(reports, "html"),
                benchmark_dir=os.path.join(ROOT, "benchmarks"))
    config = tmp_path / "asv.conf.json"
    import json

    config.write_text(json.dumps(conf))
    _publish(reports, os.path.join(reports, "results"), str(config), ROOT)
    _check_page(serve, reports, os.path.join(reports, "results"), "suite")


@pytest.mark.slow
def test_offline_asv_site_lists_benchmarks_in_chromium(serve, tmp_path):
    _chromium()
    from convac.bench.report.vendor import localize_asv_site

    repo = benchmarked()
    reports = os.path.join(repo.root, "reports")
    _publish(reports, repo.results_dir, repo.config, repo.root)
    try:
        localize_asv_site(os.path.join(reports, "html"),
                          os.path.join(ROOT, ".asv", "npm-cache"))
    except RuntimeError as exc:
        pytest.skip(f"asv's JavaScript libraries could not be fetched with npm: {exc}")
    base = serve(reports)
    proc = _run_chromium("--virtual-time-budget=10000", "--dump-dom", f"{base}/html/index.html")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "failed to load" not in proc.stdout
    names = load_benchmarks(repo.results_dir)
    # the benchmark grid, built by asv's JavaScript from index.json
    assert all(n.split(".", 1)[1] in proc.stdout for n in names), proc.stdout[:2000]
    os.makedirs(SCREENSHOTS, exist_ok=True)
    shot = os.path.join(SCREENSHOTS, "asv-site-tiny.png")
    proc = _run_chromium("--virtual-time-budget=10000", "--window-size=1280,900",
                         f"--screenshot={shot}", f"{base}/html/index.html")
    assert proc.returncode == 0 and os.path.getsize(shot) > 0
