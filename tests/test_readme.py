"""The README's quick start runs as written, and every value its comments promise is the
value it prints (or holds)."""

import pathlib
import re

import torch
from oracles import assert_close

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _quick_start() -> str:
    text = README.read_text()
    return re.search(r"## Quick start\n\n```python\n(.*?)```", text, re.S).group(1)


def test_quick_start_keeps_its_promises(capsys):
    ns: dict = {}
    exec(compile(_quick_start(), str(README), "exec"), ns)
    out = capsys.readouterr().out.splitlines()
    convac = ns["convac"]
    # A: (3,)*16 float64
    assert tuple(ns["A"].shape) == (3,) * 16 and ns["A"].dtype == torch.float64
    # 256 = min(r_0, M)^(N/2), structured with a clear margin
    rank, method = out[0].split()[:2]
    assert int(rank) == 256 == convac.ht_odd_even_rank(16, 3, 2) and method == "structured"
    assert not ns["r"].ambiguous
    # 256 over one prime, certified; a second prime is skipped where the min-cut bound
    # (256) is met
    exact = ns["exact"]
    assert exact.rank == 256 and len(exact.ranks_mod) == 1 and exact.is_certified
    assert out[1].split()[0] == "256" and out[1].endswith("True")
    # min-cut: 2 (left-right), an upper bound on the left-right rank
    assert out[2] == "2"
    bounds = convac.cp_rank_bounds(ns["ht"])
    assert bounds.lower == 256 and bounds.is_certified and bounds.upper >= bounds.lower
    assert out[3].startswith("CPRankBounds(lower=256")
    assert out[4] == "154 245"
    # the embedding keeps the function, every rank = width
    ht_from_cp, cp = ns["ht_from_cp"], ns["cp"]
    assert set(ht_from_cp.ranks) == {cp.width}
    feats = torch.randn(5, 16, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert_close(ht_from_cp(feats), cp(feats), dtype=torch.float32)  # CPNet: float32
    # 16 = the teacher's odd-even rank; the fit is no better than the floor
    assert convac.matricization_rank(ns["teacher"], "odd-even", method="exact").rank == 16
    fit_err, ge, floor_value = out[5].split()[:3]
    assert ge == ">=" and float(fit_err) >= float(floor_value)
    # an irregular tree and a tensor train: odd-even ranks 8 and 16, each its min-cut
    # bound (exact ranks), and the TT's parameters in closed form N*M*r + (N-2)*r^2 + r*Y
    tree, tt = ns["tree"], ns["tt"]
    assert tree.is_tree and tt.is_tree and out[6] == "8 16 164"
    for net, rank in ((tree, 8), (tt, 16)):
        exact = convac.matricization_rank(net, "odd-even", method="exact").rank
        assert exact == rank == convac.min_cut_bound(net, "odd-even")
    assert convac.parameter_count(tt) == 8 * 2 * 4 + 6 * 4**2 + 4 * 1 == 164
    assert out[-1] == "torch.Size([4, 1])"


ROOT = README.parent
TRACKER = re.compile(r"\b[Ii]ssues? (?:\d|and \d)|\b[Ii]ssue-\d")


def test_the_project_speaks_of_itself_only():
    """No tracker references (the numbered issues of its history) in code, docs or reports:
    a reader of the package has no tracker."""
    files = [README, ROOT / "ARCHITECTURE.md", ROOT / ".gitignore", ROOT / "pyproject.toml",
             ROOT / "Makefile", *sorted((ROOT / "reports" / "published").glob("*.json"))]
    for folder in ("convac", "benchmarks", "tests"):
        files += sorted((ROOT / folder).rglob("*.py"))
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}" for path in files
             if path.exists()
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if TRACKER.search(line)]
    assert not found, "\n".join(found)
