"""``convac table``: the depth-efficiency table."""

import re

import convac
from convac.bench.table import depth_efficiency_rows
from convac.cli import main


def test_rows_follow_theorem_and_parameter_formulas():
    rows = depth_efficiency_rows([4, 8, 16], n_channels=3, rank=2, seed=1)
    for row in rows:
        n = row["N"]
        assert row["odd_even_rank"] == row["theorem"] == 2 ** (n // 2)
        assert row["ht_params"] == convac.parameter_count(convac.HTNet(n, 3, 2))
        assert row["cp_params_needed"] == n * 3 * row["odd_even_rank"] + row["odd_even_rank"]
    assert [r["method"] for r in rows] == ["dense", "structured", "structured"]


def test_cli_prints_table(capsys):
    assert main(["table", "--sizes", "4", "8", "--channels", "2", "--rank", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["N", "M", "r"]
    assert [line.split()[4] for line in lines[1:]] == ["4", "16"]  # min(3, 2)^(N/2)


def test_a_refused_size_is_marked_in_its_row_and_the_others_are_computed():
    # N=32 is certified from its root's Kronecker terms (two (2, 2^8, 2^8) subtree cores);
    # N=64's subtree cores alone are (2, 2^16, 2^16) in float64: 64 GiB
    rows = depth_efficiency_rows([4, 64, 32, 8], n_channels=3, rank=2, seed=1)
    assert [r["odd_even_rank"] for r in rows] == [4, None, 2**16, 16]
    assert rows[1]["refused"] == "refused: needs 64 GiB"
    assert all(rows[i]["refused"] is None for i in (0, 2, 3))


def test_cli_writes_the_other_rows_and_names_its_own_option(capsys):
    """N=1024: sizes in GiB (no 155-digit numbers), and no advice to raise a budget no
    machine has; N=64: raise --max-gib (table's option), not max_bytes."""
    assert main(["table", "--sizes", "4", "64", "1024", "--channels", "3"]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["4", "64", "1024"]
    assert lines[1].split()[4] == "4"
    assert "refused: needs 64 GiB" in lines[2]
    assert re.search(r"refused: needs \d(\.\d+)?e\+\d{3} GiB", lines[3]), lines[3]
    assert "raise --max-gib to at least 64 GiB" in err
    assert "no machine has that much memory: choose a smaller size" in err
    assert "max_bytes" not in err and "structured method" not in err
    assert not re.search(r"\d{16}", out + err), out + err


def test_max_gib_sets_the_budget(capsys):
    assert main(["table", "--sizes", "4", "8", "--max-gib", "1e-6", "--quiet"]) == 1
    out, err = capsys.readouterr()
    assert "refused: needs" in out.splitlines()[2] and "budget of 9.99e-07 GiB" in err
