"""The report's fit plot: log axis, zeros drawn, certified bracket and certificate spans."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from convac.bench.report import plots  # noqa: E402
from convac.bench.report.data import Curve  # noqa: E402


def test_fit_plot_is_log_scaled_and_shows_zero_floors(tmp_path, monkeypatch):
    seen = {}
    save = plots._save

    def spy(fig, path):
        ax = fig.axes[0]
        seen["yscale"] = ax.get_yscale()
        seen["labels"] = ax.get_legend_handles_labels()[1]
        seen["ymin"] = min(min(line.get_ydata()) for line in ax.get_lines()[:2])
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    ks = [1, 2, 4]
    out = plots.plot_fit(Curve("fit", ks, [0.5, 1e-3, 1e-15]),
                         Curve("floor", ks, [0.4, 1e-4, 0.0]), str(tmp_path / "fit.png"),
                         certified=Curve("upper", ks, [3.0, 2.0, 0.5]))
    assert open(out, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert seen["yscale"] == "log"
    assert seen["ymin"] == plots.ZERO_DISPLAY  # the zero floor is drawn, not dropped
    assert "Haeffele-Vidal certificate holds" in seen["labels"]
    assert any(label.startswith("certified bracket") for label in seen["labels"])
    plt.close("all")
