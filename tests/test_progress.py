"""Progress bars (off when not a terminal or with --quiet) and the summary line."""

import io
import re

import pytest

from convac.cli import main
from convac.progress import Clock, Phases, bar, summary_line, wrote


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize(("terminal", "quiet", "shown"), [
    (True, False, True), (True, True, False), (False, False, False)])
def test_a_bar_shows_only_on_a_terminal_and_not_quiet(monkeypatch, terminal, quiet, shown):
    stream = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    assert list(bar(range(3), desc="work", quiet=quiet)) == [0, 1, 2]
    assert ("work" in stream.getvalue()) == shown, stream.getvalue()


def test_phases_name_the_phase_under_way(monkeypatch):
    stream = _Terminal()
    monkeypatch.setattr("sys.stderr", stream)
    with Phases(2, "report") as phase:
        phase("curves")
        phase("plots")
    text = stream.getvalue()
    assert "0/2" in text and "curves" in text and "1/2" in text and "plots" in text


def test_summary_line_says_what_where_how_long_and_cpu():
    clock = Clock()
    args = type("Args", (), {"clock": clock})()
    wrote(args, "out/a.csv", "out/a.md")
    line = summary_line("sweep", clock, 0, 1)
    assert re.fullmatch(r"convac sweep: wrote out/a\.csv, out/a\.md in [\d.]+ s "
                        r"\(CPU [\d.]+ s, 1 thread\)", line), line
    wrote(args, "out/b.csv", "out/b.md")
    assert "wrote 4 files in out in" in summary_line("sweep", clock, 0, 2)
    assert summary_line("table", Clock(), 1, 2).startswith("convac table: exit status 1 in")
    assert "2 threads" in summary_line("table", Clock(), 0, 2)


def test_quiet_drops_the_summary_line(capsys):
    assert main(["table", "--sizes", "4", "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["table", "--sizes", "4"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.fullmatch(r"convac table: done in [\d.]+ s \(CPU [\d.]+ s, "
                                          r"1 thread\)", err[0]), err


def test_a_clock_counts_its_children_not_earlier_ones():
    """The summary's CPU time is the command's own and its children's: children that
    ended before it (a test process's earlier subprocesses) are not counted."""
    import resource
    import subprocess
    import sys
    def child():
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-c", "sum(range(3 * 10**7))"], check=True,
                       timeout=120)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime

    earlier = child()
    clock = Clock()
    assert clock.elapsed()[1] < 0.5 * earlier
    own = child()
    assert clock.elapsed()[1] >= own > 0
