"""The static HTML page of the depth-efficiency report."""

from __future__ import annotations

import html

from ...formatting import format_number
from ..results import parse_param
from .data import MEASURE, certification

__all__ = ["render_page", "table"]

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; }
td, th { border: 1px solid #ccc; padding: 2px 6px; text-align: left; }
td.num { text-align: right; font-family: monospace; }
.missing { color: #888; font-style: italic; }
.failed { color: #b00; font-weight: bold; } .skipped { color: #888; }
figure { display: inline-block; margin: 0.5em; } img { max-width: 100%; border: 1px solid #ddd; }
"""


def _esc(x) -> str:
    return html.escape(str(x))


def _fmt(v) -> str:
    return format_number(v, missing='<span class="failed">failed</span>',
                         nan='<span class="skipped">skipped</span>')


def table(header, rows, attrs: str = "") -> str:
    """An HTML table: ``header`` the column names, ``rows`` sequences of cell values
    (escaped; ``None`` shows as an empty cell, never as the word)."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{'' if c is None else _esc(c)}</td>" for c in row)
                   + "</tr>" for row in rows)
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _params(info, params: tuple) -> str:
    """``N=16, M=2`` from a benchmark's parameter names and one combination's values."""
    names = info.param_names if info and len(info.param_names) == len(params) else ()
    if not names:
        return ", ".join(str(parse_param(p)) for p in params)
    return ", ".join(f"{k}={parse_param(p)}" for k, p in zip(names, params, strict=True))


def render_page(meta: dict, figures: list, benchmarks: dict, results, asv_site: str | None,
                pages: list = (), missing: list = ()) -> str:
    """HTML of the report.

    Parameters
    ----------
    meta : dict
        ``commit``, ``machine``, ``date`` and ``sources`` (free text) shown at the top.
    figures : list of (file name, caption)
    benchmarks : dict
        ``{name: BenchmarkInfo}``; every benchmark is listed with its values.
    results : CommitResults or None
    asv_site : str, optional
        Relative link to asv's published site.
    pages : list of (relative link, title), optional
        The report's other pages (rectifier networks, published experiments).
    missing : list of (series, N, why), optional
        Points of the rank curve the results lack, shown as a table under the plots.
    """
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<title>convac: depth-efficiency report</title>", f"<style>{CSS}</style></head>",
           "<body>", "<h1>convac: depth-efficiency report</h1>"]
    out.append("<p>" + "<br>".join(f"<b>{_esc(k)}</b>: {_esc(v)}" for k, v in meta.items())
               + "</p>")
    if asv_site:
        out.append(f'<p><a href="{_esc(asv_site)}">asv results site (history of every '
                   "benchmark)</a></p>")
    if pages:
        out.append("<h2>More</h2><ul>" + "".join(
            f'<li><a href="{_esc(href)}">{_esc(title)}</a></li>' for href, title in pages)
            + "</ul>")
    out.append('<h2>Plots</h2><div id="plots">')
    for fname, caption in figures:
        out.append(f'<figure><img src="{_esc(fname)}" alt="{_esc(caption)}">'
                   f"<figcaption>{_esc(caption)}</figcaption></figure>")
    out.append("</div>")
    if missing:
        out.append("<h3>Points of the rank plot not measured</h3>"
                   + table(("series", "N", "why"), missing, ' id="missing"'))
    out.append('<h2>Benchmarks</h2><table id="benchmarks"><thead><tr><th>benchmark</th>'
               "<th>type</th><th>unit</th><th>parameters (name=value)</th><th>value</th>"
               "<th>certified?</th></tr></thead><tbody>")
    names = sorted(set(benchmarks) | ({n for n, _ in results.values} if results else set()))
    for name in names:
        info = benchmarks.get(name)
        btype = info.type if info else ""
        unit = info.unit if info else ""
        rows = results.by_name(name) if results is not None else []
        if not rows:
            out.append(f'<tr class="benchmark"><td>{_esc(name)}</td><td>{_esc(btype)}</td>'
                       f'<td>{_esc(unit)}</td><td></td><td class="missing">not measured '
                       f"(run <code>{_esc(MEASURE)}</code>)</td><td></td></tr>")
            continue
        for m in rows:
            out.append(f'<tr class="benchmark"><td>{_esc(name)}</td><td>{_esc(btype)}</td>'
                       f"<td>{_esc(unit)}</td><td>{_esc(_params(info, m.params))}</td>"
                       f'<td class="num">{_fmt(m.value)}</td>'
                       f"<td>{_esc(certification(name, unit, m.params))}</td></tr>")
    out.append("</tbody></table>")
    out.append("<p>Tracked numbers follow asv's lower-is-better convention: ranks and "
               "parameter counts must not change, rank deficits are 0, fit errors fall. "
               "<code>convac gate BASE HEAD</code> applies these rules.</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
