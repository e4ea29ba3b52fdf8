"""The experiments page: each published experiment's table and plot, the paper's
statement beside convac's numbers.

Reads the Parquet stores of ``convac experiment run`` (``reports/experiments/NAME``);
without a store, a full run's committed summary (``reports/published/NAME.json``, see
:mod:`convac.experiments.publish`) where there is one, else it says "not measured" and
gives the command that measures it.  Nothing here computes an experiment.
``convac experiment report`` writes ``reports/experiments-page/index.html`` and its PNGs.
"""

from __future__ import annotations

import html
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ...experiments import depth_sweep_summary as ds
from ...experiments import levine_summary as lev
from ...experiments import mixed_dilated_summary as md
from ...experiments import pooling_full_summary as pf
from ...experiments import pooling_geometry_summary as pg
from ...experiments import rectifier_laws_summary as rl
from ...experiments import recurrent_summary as rc
from ...experiments.publish import PUBLISHED, provenance_text, read_published
from ...experiments.store import DEFAULT_STORE_ROOT, ResultStore
from ...progress import bar
from .page import table as _html_table
from .rectifier import distributions_section

__all__ = ["build_experiments_page", "load_records"]

DEFAULT_STORES = DEFAULT_STORE_ROOT
DEFAULT_OUT = os.path.join("reports", "experiments-page")
CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
blockquote { border-left: 3px solid #888; margin-left: 0; padding-left: 1em; color: #444; }
img { max-width: 100%; border: 1px solid #ddd; }
"""


def measure_command(name: str) -> str:
    """The command that measures experiment ``name`` into the store this page reads."""
    return (f"convac experiment run {name} --store {os.path.join(DEFAULT_STORES, name)}"
            + (" --sample 200" if name == "levine-mincut" else ""))


def load_records(name: str, stores: str = DEFAULT_STORES) -> tuple[list | None, str]:
    """``(records, where)``: the store's records, or ``(None, why)`` without a store."""

    store = ResultStore(os.path.join(stores, name))
    if _has_store(store):
        return store.records(), f"store {store.path} ({len(store)} results)"
    return None, f"no store in {os.path.join(stores, name)}"


def _table(header, rows) -> str:
    return _html_table(header, rows)


def _save(fig, path: str) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return os.path.basename(path)


def _save_labelled(fig, ax, xlabel: str, ylabel: str, title: str, path: str) -> str:
    """Label a single-axes plot, grid and small legend included, and save it (:func:`_save`)."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6)
    return _save(fig, path)


def _levine(records, out_dir, published=None) -> str:
    """The Levine section from a store's records, or from the committed summary of a full
    run (``published``, :func:`convac.experiments.publish.read_published`)."""

    if published is not None:
        s, speed = published["summary"], published.get("throughput")
        s["gaps"] = {float(k): v for k, v in s["gaps"].items()}
    else:
        s = lev.summarize(records)
        speed = lev.throughput(records) if records and "finished" in records[0] else None
    t = s["total"]
    patterns = [(p, c) for p, c in s["by_pattern"].items()]
    rows = [("all", t["n"], t["tight"], t["below"], t["above"], t["error"],
             f"{t['tight'] / max(t['n'], 1):.5f}")]
    rows += [(p, c["n"], c["tight"], c["below"], c["above"], c["error"],
              f"{c['tight'] / max(c['n'], 1):.4f}")
             for p, c in list(s["by_weights"].items()) + patterns
             if c["below"] or (p in s["by_weights"] and c["n"])]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    fracs = [c["below"] / max(c["n"], 1) for _, c in patterns]
    ax.bar(range(len(patterns)), fracs, color="tab:orange")
    ax.set_xlabel("width pattern r0.r1.r2.r3 (index, lexicographic over primes 2,3,5,7)")
    ax.set_ylabel("fraction below the min-cut")
    ax.set_title(f"Levine et al. min-cut tightness: {t['n']} configurations, "
                 f"{t['below']} below, {t['above']} above")
    ax.grid(True, alpha=0.3)
    img = _save(fig, os.path.join(out_dir, "levine_mincut.png"))
    full = lev.GRID_SIZE
    pace = "" if speed is None else (
        f"<p>Pace: {speed['per_second']:.1f} configurations/s over "
        f"{speed['active_seconds'] / 3600:.2f} h of running ({speed['runs']} run(s), "
        f"resumed after kills)"
        + (f"; the rest of the grid would take {speed['remaining_hours']:.1f} h more at "
           f"that pace on this machine" if t["n"] < full else "") + ".</p>")
    return (
        f"<h2>Levine, Yakira, Cohen &amp; Shashua 2018: min-cut tightness</h2>"
        f"<blockquote>Paper: {html.escape(lev.PAPER['statement'])}; "
        f"{html.escape(lev.PAPER['configurations'])} configurations, "
        f"{html.escape(lev.PAPER['below'])}, above: {html.escape(lev.PAPER['above'])}. "
        f"Source: {html.escape(lev.PAPER['source'])}.</blockquote>"
        f"<p>convac: {t['n']} of the {full} configurations of the grid "
        f"({100 * t['n'] / full:.2f}%), exact ranks over a prime field (a second prime "
        f"where the first falls below; each is a certified lower bound) against "
        f"<code>min_cut_bound</code> (a proven upper bound). Width patterns with a "
        f"configuration below the bound:</p>"
        + _table(("widths", "n", "tight", "below", "above", "error", "tight fraction"), rows)
        + pace + _gaps(s["gaps"]) + f"<img src='{img}'>"
    )


def _gaps(gaps: dict) -> str:
    """The ratios min-cut bound / certified rank of the configurations below the bound, as
    a table (ratio, how many)."""
    if not gaps:
        return "<p>No configuration below the min-cut bound.</p>"
    return ("<p>Configurations below the min-cut bound, by bound / rank:</p>"
            + _table(("bound / rank", "configurations"),
                     [(f"{float(k):.4g}", v) for k, v in sorted(gaps.items())]))


def _other_runs(stores: str, name: str) -> str:
    """Counts of every other store of ``name`` (``NAME-*``: samples, older settings)."""

    rows = []
    if os.path.isdir(stores):
        for sub in sorted(os.listdir(stores)):
            if not sub.startswith(name + "-"):
                continue
            store = ResultStore(os.path.join(stores, sub))
            meta = store.meta() or {}
            if not len(store) or meta.get("experiment") != name:
                continue
            t = lev.summarize(store.records())["total"]
            opts = meta.get("options", {})
            rows.append((sub, opts.get("weight_range", 100), t["n"], t["tight"], t["below"],
                         t["above"], t["error"], f"{t['tight'] / max(t['n'], 1):.5f}"))
    if not rows:
        return ""
    return ("<p>Other runs of the same grid (seeded samples; integer weight range):</p>"
            + _table(("store", "weights +-", "n", "tight", "below", "above", "error",
                      "tight fraction"), rows))


def _depth(records, out_dir) -> str:

    rows = ds.summarize(records)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for key in sorted({(r["n"], r["m"], r["r"]) for r in rows}):
        pts = [r for r in rows if (r["n"], r["m"], r["r"]) == key]
        d = [r["depth"] for r in pts]
        line = ax.plot(d, [math.log2(r["rank"]) for r in pts], "o",
                       label=f"N={key[0]} M={key[1]} r={key[2]}: convac (certified)")
        ax.plot(d, [math.log2(r["paper"]) for r in pts], "--", color=line[0].get_color(),
                label="paper min(r0,M)^(N/2^d)")
    img = _save_labelled(fig, ax, "depth d of the truncated network", "log2 top width needed",
                         "COLT 2016 Thm 3: width of truncated networks",
                         os.path.join(out_dir, "depth_sweep.png"))
    table = _table(("N", "M", "r", "d", "certified rank", "paper", "rank >= paper",
                    "deep params", "truncated params"),
                   [(r["n"], r["m"], r["r"], r["depth"], r["rank"], r["paper"], r["agrees"],
                     r["deep_params"], r["trunc_params"]) for r in rows])
    return (f"<h2>Cohen, Sharir &amp; Shashua 2016 (COLT), Thm 3: depth sweep</h2>"
            f"<blockquote>Paper: {html.escape(ds.PAPER['statement'])}. "
            f"Source: {html.escape(ds.PAPER['source'])}.</blockquote>"
            + table + f"<img src='{img}'>")


def _pooling(records, out_dir) -> str:

    rows = pg.summarize(records)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    tasks = sorted({r["task"] for r in rows})
    for k, geom in enumerate(pg.GEOMETRIES):
        pts = [next((r for r in rows if r["task"] == t and r["geometry"] == geom), None)
               for t in tasks]
        xs = [i + 0.35 * k for i, p in enumerate(pts) if p]
        acc = [p["accuracy"] for p in pts if p]
        err = [[p["accuracy"] - p["min"] for p in pts if p],
               [p["max"] - p["accuracy"] for p in pts if p]]
        ax.bar(xs, acc, width=0.35, yerr=err, capsize=3, label=f"{geom} pooling")
    ax.set_xticks([i + 0.175 for i in range(len(tasks))], tasks)
    ax.axhline(0.5, color="k", lw=0.8, ls=":")
    ax.set_ylim(0.4, 1.0)
    ax.set_ylabel("test accuracy (mean, min-max over seeds)")
    ax.set_title("ICLR 2017 pooling geometry")
    ax.legend(fontsize=7)
    img = _save(fig, os.path.join(out_dir, "pooling_geometry.png"))
    names = list(pg.named_partitions(pg.SIDE))
    table = _table(
        ("task", "geometry", "seeds", "accuracy", "min", "max")
        + tuple(f"min-cut 8x8 {n}" for n in names) + tuple(f"exact 4x4 {n}" for n in names),
        [(r["task"], r["geometry"], r["seeds"], f"{r['accuracy']:.3f}", f"{r['min']:.3f}",
          f"{r['max']:.3f}") + tuple(r["bounds"][n] for n in names)
         + tuple(r["exact_4x4"][n] for n in names) for r in rows])
    return (f"<h2>Cohen &amp; Shashua 2017 (ICLR): pooling geometry</h2>"
            f"<blockquote>Paper: {html.escape(pg.PAPER['statement'])}. "
            f"Source: {html.escape(pg.PAPER['source'])}.</blockquote>"
            + table + f"<img src='{img}'>")


def _pooling_full(records, out_dir, published=None) -> str:
    """The ICLR 2017 reproduction at the paper's scale: accuracy against width per task
    and network, square against mirror, shaped like the paper's Fig. 3 and 4."""
    # a live store's summary without the ranks (computing them is no report's work)
    s = published["summary"] if published is not None else pf.summarize_records(records)
    total = published["grid_size"] if published is not None else pf.default_grid_size()
    speed = published.get("throughput") if published is not None else pf.throughput(records)
    cells = s["cells"]
    paper = {(b["kind"], b["task"]): b["accuracy"] for b in s["paper"]["shallow"]}
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.4), sharey=True)
    for i, task in enumerate(pf.TASKS):
        for j, kind in enumerate(pf.KINDS):
            ax = axes[i][j]
            for geom, style in (("square", "o-"), ("mirror", "s--")):
                pts = sorted((c["width"], c) for c in cells if c["depth"] == "deep"
                             and c["task"] == task and c["kind"] == kind
                             and c["geometry"] == geom)
                if pts:
                    ax.errorbar([w for w, _ in pts], [c["test"] for _, c in pts],
                                yerr=[[c["test"] - c["test_min"] for _, c in pts],
                                      [c["test_max"] - c["test"] for _, c in pts]],
                                fmt=style, capsize=3, label=f"deep, {geom} pooling")
            shallow = [c for c in cells if c["depth"] == "shallow" and c["task"] == task
                       and c["kind"] == kind]
            if shallow:
                best = max(shallow, key=lambda c: c["width"])
                ax.axhline(best["test"], color="gray", lw=1,
                           label=f"convac shallow, width {best['width']}")
            if (kind, task) in paper:
                ax.axhline(paper[(kind, task)], color="k", ls=":", lw=1,
                           label="paper's shallow (4096)")
            ax.axhline(0.5, color="tab:red", lw=0.6, ls="-.")
            ax.set_xscale("log", base=2)
            ax.set_xlim(6, 170)
            ax.set_xticks(pf.DEEP_WIDTHS, [str(w) for w in pf.DEEP_WIDTHS])
            ax.set_title(f"{task}, {kind}", fontsize=9)
            ax.set_xlabel("channels per layer")
            ax.grid(True, alpha=0.3)
            if j == 0:
                ax.set_ylabel("test accuracy\n(mean, min-max over seeds)")
            ax.legend(fontsize=6)
    fig.suptitle("Pooling geometry at 32x32 (cf. the paper's Fig. 3: arithmetic circuit; "
                 "Fig. 4: ReLU networks)", fontsize=10)
    img = _save(fig, os.path.join(out_dir, "pooling_geometry_full.png"))
    done = s["n_trainings_done"]
    table = _table(
        ("depth", "geometry", "task", "network", "width", "seeds", "test mean", "test min",
         "test max", "train mean", "s / training", "ran on"),
        [(c["depth"], c["geometry"], c["task"], c["kind"], c["width"], c["seeds"],
          f"{c['test']:.3f}", f"{c['test_min']:.3f}", f"{c['test_max']:.3f}",
          f"{c['train']:.3f}", f"{c['seconds']:.0f}", ", ".join(c["devices"]))
         for c in cells])
    wins = []
    for task, good in (("closedness", "square"), ("symmetry", "mirror")):
        bad = "mirror" if good == "square" else "square"
        for kind in pf.KINDS:
            for w in pf.DEEP_WIDTHS:
                got = {c["geometry"]: c["test"] for c in cells if c["depth"] == "deep"
                       and (c["task"], c["kind"], c["width"]) == (task, kind, w)}
                if len(got) == 2:
                    wins.append((task, kind, w, good, f"{got[good]:.3f}", f"{got[bad]:.3f}",
                                 "yes" if got[good] > got[bad] else "NO"))
    verdict = _table(("task", "network", "width", "paper's winner", "its accuracy",
                      "other geometry", "paper's winner ahead"), wins)
    names = list(pf.partitions(4))
    if s["min_cut_32x32"] is None:
        ranks = exact = ("<p class='missing'>Not in a live store: <code>convac experiment "
                         "show pooling-geometry-full --json reports/published/"
                         "pooling-geometry-full.json</code> computes and publishes them.</p>")
    else:
        ranks = _table(("geometry", "width") + tuple(names),
                       [(g, w) + tuple(_pow2(s["min_cut_32x32"][g][w][n]) for n in names)
                        for g in pf.GEOMETRIES
                        for w in sorted(s["min_cut_32x32"][g], key=int)])
        exact = _table(("geometry",) + tuple(names),
                       [(g,) + tuple(f"{s['exact_4x4_width8'][g][n]['exact']} "
                                     f"({s['exact_4x4_width8'][g][n]['min_cut']})"
                                     for n in names)
                        for g in pf.GEOMETRIES])
    pace = _table(("cells", "trainings", "wall s (mean)", "wall min", "wall max",
                   "CPU s (mean)", "ran on"),
                  [(k, v["n"], f"{v['wall_mean']:.0f}", f"{v['wall_min']:.0f}",
                    f"{v['wall_max']:.0f}", f"{v['cpu_mean']:.0f}", ", ".join(v["devices"]))
                   for k, v in sorted((speed or {}).items(),
                                      key=lambda kv: (kv[0].split()[0],
                                                      int(kv[0].split("w")[-1])))])
    p = s["paper"]
    return (
        "<h2>Cohen &amp; Shashua 2017 (ICLR), Sec. 7 at the paper's scale: pooling "
        "geometry on 32x32 blobs</h2>"
        f"<blockquote>Paper: {html.escape(p['statement'])}. Shallow baselines: "
        + ", ".join(f"{b['kind']} {b['task']} {b['accuracy']:.2f}" for b in p["shallow"])
        + f" ({html.escape(p['shallow_note'])}). Source: {html.escape(p['source'])}. "
        f"{html.escape(p['verified'])}</blockquote>"
        f"<p><b>{done} of {total} trainings done</b> ({len(s['errors'])} failed); a cell "
        "shows the seeds that have finished (3 each when complete). Setting: N = 1024 "
        "pixels, M = 2 (b, 1-b), 5 levels of 2x2 pooling, 25,000 / 5,000 generated "
        "images, the top and bottom 40% by score as the classes (20,000 train / 4,000 "
        "test), Adam 15,000 iterations of batch 64 (arithmetic circuit lr 0.003; ReLU "
        "nets lr 0.001, weight decay 1e-4); convac differs from the authors' code in the "
        "random stream of the generator (numpy's default_rng) and in the shuffling of "
        "the training set (every epoch, seeded).</p>"
        f"<img src='{img}'>" + "<p>Does the paper's geometry win?</p>" + verdict
        + "<p>All cells:</p>" + table
        + "<p>What each geometry supports: the min-cut bound (a proven upper bound on the "
          "rank of the deep arithmetic circuit's coefficient tensor) at 32x32, per "
          "partition (odd|even columns; interleaved = checkerboard; mirrored checkerboard "
          "= a checkerboard in the distances to the edges, local but a union of mirror "
          "windows):</p>" + ranks
        + "<p>Exact rank over GF(p) of random integer networks (min-cut in brackets) at "
          "4x4, width 8:</p>" + exact
        + "<p>Training time per cell (one thread each; the machine was shared):</p>" + pace)


def _pow2(v: int) -> str:
    """``2^k`` for large powers of two (the full ranks), the number otherwise."""
    v = int(v)
    return f"2^{v.bit_length() - 1}" if v > 2 ** 20 and v & (v - 1) == 0 else (
        f"{v:.3g}" if v > 2 ** 20 else str(v))


def _rectifier_dist(records, out_dir, published=None) -> str:
    s = published["summary"] if published is not None else rl.summarize(records)
    return ("<h2>Cohen &amp; Shashua 2016 (ICML): rectifier networks over seeds</h2>"
            + distributions_section(s))

def _recurrent(records, out_dir, published=None) -> str:
    """Khrulkov et al. and Levine et al.: the formats' certified ranks and the RACs'
    start-end ranks beside the theorems, from a store or the committed summary."""
    s = published["summary"] if published is not None else rc.summarize(records)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for m, r in sorted({(x["m"], x["r"]) for x in s["rac"]}):
        if m != r:
            continue
        for depth in sorted({x["depth"] for x in s["rac"]}):
            pts = [x for x in s["rac"] if (x["m"], x["r"], x["depth"]) == (m, r, depth)]
            line = ax.plot([x["t"] for x in pts], [math.log2(x["rank"]) for x in pts], "o-",
                           label=f"M=R={m}, depth {depth}: convac (certified)")
            low = [x for x in pts if x["lower"] is not None]
            if low:
                ax.plot([x["t"] for x in low], [math.log2(x["lower"]) for x in low], "--",
                        color=line[0].get_color(), label=f"M=R={m}: Thm 1 lower (depth 2)")
    img = _save_labelled(fig, ax, "sequence length T", "log2 start-end separation rank",
                         "RACs: start-end rank by depth",
                         os.path.join(out_dir, "recurrent_ranks.png"))

    def opt(v):
        return "" if v is None else v

    formats = _table(("network", "N", "M", "r", "odd-even rank (certified)",
                      "Thm 1 CP-rank >=", "TT-rank", "its min-cut", "Table 2 TT <=",
                      "HT-rank", "its min-cut", "Table 2 HT <=", "m > r (Table 2)",
                      "params", "CP params to match"),
                     [(x["net"].upper(), x["n"], x["m"], x["r"], x["odd_even"],
                       opt(x["paper_cp_lower"]), x["tt_rank"], x["tt_cut"],
                       rc.entry(x["table_tt"]), x["ht_rank"], x["ht_cut"],
                       rc.entry(x["table_ht"]), x["table_hypothesis"], x["params"],
                       x["cp_params_to_match"])
                      for x in s["formats"]])
    excess = rc.table_excess(s)
    racs = _table(("depth", "T", "M", "R", "start-end rank (certified)", "paper >=",
                   "bound <=", "within", "params", "depth-1 params to match"),
                  [(x["depth"], x["t"], x["m"], x["r"], x["rank"], opt(x["lower"]),
                    opt(x["upper"]), x["agrees"], x["params"], x["shallow_params_to_match"])
                   for x in s["rac"]])
    kh, lv = rc.PAPER["khrulkov"], rc.PAPER["levine"]
    return (f"<h2>{TITLES['recurrent-ranks']}</h2>"
            f"<blockquote>Paper: {html.escape(kh['abstract'])}. "
            f"{html.escape(kh['theorem'])}. {html.escape(kh['theorem_2'])}. "
            f"{html.escape(kh['table'])}. "
            f"Source: {html.escape(kh['source'])}.</blockquote>"
            "<p>CP, TT and HT networks (seeded float64 weights, every rank r): exact ranks "
            "over GF(p) of the odd-even matricization (a lower bound on the width of a "
            "shallow network that matches the network), of the sequential cuts (TT-rank: "
            "their maximum) and of the balanced tree's clusters (HT-rank: their "
            "maximum), each beside the largest min-cut upper bound of those cuts and "
            "Table 2's entry for the network's column.</p>"
            + formats
            + f"<p>{html.escape(rc.describe_excess(excess))}</p>"
            + f"<blockquote>Paper: {html.escape(lv['abstract'])}. "
            f"{html.escape(lv['theorem'])}. Source: {html.escape(lv['source'])}."
            "</blockquote><p>RACs (weights shared over time, seeded float64): exact "
            "start-end ranks from one-hot forward passes mod p. The upper bound of depth 2 "
            "is convac's count R C(R + T/2 - 1, T/2) (the output is linear in the second "
            "layer's state at T/2 and of degree T/2 in the first's); depth 3 has no bound "
            f"beside it. Deficit against the bounds: {rc.deficit(s)}.</p>"
            + racs + f"<img src='{img}'>")


def _mixed(records, out_dir, published=None) -> str:
    """Cohen, Tamari &amp; Shashua 2018: the paper's example beside convac's certified
    ranks and bounds, and Corollary 8's widths."""
    s = published["summary"] if published is not None else md.summarize(records)

    def cell(v):
        return "" if v is None else v if isinstance(v, str) else _pow2(v)

    rows = [(r["n"], r["m"], r["r"], r["network"],
             f"{'(r/2)' if r['network'] == 'mixed' else 'r'}^{r['paper_exponent']} = "
             f"{cell(r['paper'])}", cell(r["lower"]), cell(r["upper"]), cell(r["min_cut"]),
             cell(r["exact"]), r["certified"], r["matches_paper"]) for r in s["rows"]]
    table = _table(("N", "M", "r", "network", "paper", "Thm 7 lower (a.e.)", "Thm 7 upper",
                    "min-cut (exact max-flow)", "exact rank (GF(p))", "what it establishes",
                    "paper's figure"), rows)
    cor = _table(("r", "k", "width a single network needs, (r/2)^(2/(1+2^(1-k)))"),
                 [(c["r"], c["k"], f"{c['width']:.1f}") for c in s["corollary"]])
    quotes = "".join(f"<blockquote>{html.escape(md.PAPER[k])}</blockquote>"
                     for k in ("theorem_7", "example", "corollary_8", "corollary_example"))
    return (f"<h2>{TITLES['mixed-dilated']}</h2>{quotes}<p>Source: "
            f"{html.escape(md.PAPER['source'])}. Networks: baseline = the dilated network "
            "2^(l-1), swapped = even/odd layers' dilations swapped, hybrid = the paper's H, "
            "mixed = baseline and swapped of width r interconnected at depth L-2 (it "
            "realises H at width r/2). For the mixed network the lower bound is H's at "
            "r/2 and the min-cut is the smaller of the sum over its hybrid trees and the "
            "bound of its own tensor network (one tensor per segment between mixture "
            "nodes).</p>" + table
            + "<p>Corollary 8:</p>" + cor)


TITLES = {"levine-mincut": "Levine, Yakira, Cohen &amp; Shashua 2018: min-cut tightness",
          "pooling-geometry": "Cohen &amp; Shashua 2017 (ICLR): pooling geometry",
          "pooling-geometry-full": "Cohen &amp; Shashua 2017 (ICLR), Sec. 7 at the paper's "
                                   "scale: pooling geometry on 32x32 blobs",
          "rectifier-distributions": "Cohen &amp; Shashua 2016 (ICML): rectifier networks "
                                     "over seeds",
          "depth-sweep": "Cohen, Sharir &amp; Shashua 2016 (COLT), Thm 3: depth sweep",
          "recurrent-ranks": "Khrulkov, Novikov &amp; Oseledets 2018 (ICLR) and Levine, "
                             "Sharir &amp; Shashua: tensor trains and recurrent circuits",
          "mixed-dilated": "Cohen, Tamari &amp; Shashua 2018 (ICLR): mixed dilated "
                           "networks, Theorem 7 and Corollary 8"}


def _not_measured(name: str, where: str) -> str:
    """The section of an experiment with no results: where the page looked and the command
    that measures it."""
    return (f"<h2>{TITLES[name]}</h2><p class='missing'>Not measured: {html.escape(where)} "
            f"and no committed summary. Run <code>{html.escape(measure_command(name))}"
            "</code>, then <code>convac experiment report</code>.</p>")


SECTIONS = (("levine-mincut", _levine), ("pooling-geometry", _pooling),
            ("pooling-geometry-full", _pooling_full),
            ("rectifier-distributions", _rectifier_dist), ("depth-sweep", _depth),
            ("recurrent-ranks", _recurrent), ("mixed-dilated", _mixed))
PUBLISHED_SECTIONS = ("levine-mincut", "pooling-geometry-full", "rectifier-distributions",
                      "recurrent-ranks", "mixed-dilated")
"""Sections shown from their committed summary when their store is absent."""


def _has_store(store) -> bool:
    return os.path.isdir(store.path) and len(store) > 0


def build_experiments_page(stores: str = DEFAULT_STORES, out_dir: str = DEFAULT_OUT,
                           published_root: str = PUBLISHED, progress: bool = False) -> str:
    """Write ``out_dir/index.html`` with one section (table, plot, paper) per experiment;
    return its path.  An experiment's store wins; without one, the Levine grid is shown
    from its committed summary (``published_root/levine-mincut.json``) when there is one,
    else every experiment is computed at its seeded quick size.  ``progress``: a bar
    over the experiments on stderr (when it is a terminal)."""

    os.makedirs(out_dir, exist_ok=True)
    parts = []
    for name, section in bar(SECTIONS, desc="experiments page", unit="experiment",
                             quiet=not progress):
        published = None
        if name in PUBLISHED_SECTIONS and not _has_store(
                ResultStore(os.path.join(stores, name))):
            published = read_published(name, published_root)  # a full run, summarised
        if published is not None:
            parts.append(section(None, out_dir, published) + "<p><small>data: "
                         + html.escape(provenance_text(published)) + "</small></p>")
            continue
        records, where = load_records(name, stores)
        if records is None:
            parts.append(_not_measured(name, where))
            continue
        parts.append(section(records, out_dir) + f"<p><small>data: {html.escape(where)}"
                     "</small></p>")
    parts.insert(1, _other_runs(stores, "levine-mincut"))
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>convac experiments"
            f"</title><style>{CSS}</style></head><body><h1>Published experiments, "
            f"reproduced by convac</h1>{''.join(parts)}</body></html>")
    path = os.path.join(out_dir, "index.html")
    with open(path, "w") as fh:
        fh.write(page)
    return path
