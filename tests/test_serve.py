"""``convac serve`` / ``make serve``: both reports over HTTP on the loopback interface."""

import os
import subprocess
import sys
import threading
import urllib.request

import pytest

from convac.bench.report.serve import make_server, urls
from convac.cli import main


@pytest.fixture
def reports(tmp_path):
    for folder, text in (("html", "asv site"), ("depth-efficiency", "depth report")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "index.html").write_text(f"<p>{text}</p>")
    return tmp_path


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        assert response.status == 200
        return response.read().decode()


def test_the_server_answers_on_loopback(reports):
    server = make_server(str(reports), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert server.server_address[0] == "127.0.0.1"
        pages = dict(urls(server))
        assert _get(pages["asv site"]) == "<p>asv site</p>"
        assert _get(pages["depth-efficiency report"]) == "<p>depth report</p>"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_the_command_prints_both_urls_and_serves_them(reports):
    """The command as a user runs it (bounded: killed after the two requests)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, "-m", "convac.cli", "serve", "--dir",
                             str(reports), "--port", "0"], cwd=root, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watchdog = threading.Timer(600, proc.kill)  # readline has no timeout of its own
    watchdog.start()
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        found = dict(line.split(": ", 1) for line in lines)
        asv, report = found["asv site"].strip(), found["depth-efficiency report"].strip()
        assert asv.startswith("http://127.0.0.1:") and asv.endswith("/html/")
        assert report.endswith("/depth-efficiency/")
        assert _get(asv) == "<p>asv site</p>" and _get(report) == "<p>depth report</p>"
    finally:
        watchdog.cancel()
        proc.kill()
        proc.communicate(timeout=60)


def test_a_missing_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["serve", "--dir", str(tmp_path / "nothing"), "--port", "0"]) == 2
    assert "no folder" in capsys.readouterr().err


def test_make_bench_prints_the_serve_command():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "Makefile")) as fh:
        text = fh.read()
    bench = text[text.index("\nbench:"):text.index("\nbench-quick:")]
    assert "make serve" in bench and "index.html" not in bench
    assert "\nserve: venv\n\t$(PY) -m convac.cli serve" in text
