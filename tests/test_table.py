"""``convac table``: the depth-efficiency table."""

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
