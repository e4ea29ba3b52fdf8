"""The README's quick start runs as written."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_quick_start_runs(capsys):
    text = README.read_text()
    code = re.search(r"## Quick start\n\n```python\n(.*?)```", text, re.S).group(1)
    exec(compile(code, str(README), "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[0] == "256"  # min(r_0, M)^(N/2) for N=16, M=3, r_0=2
    assert out[1].split()[0] == "256"  # certified over GF(p)
    assert out[-1] == "torch.Size([4, 1])"
