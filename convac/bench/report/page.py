"""The static HTML page of the depth-efficiency report."""

from __future__ import annotations

import html
import math

__all__ = ["render_page"]

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; }
td, th { border: 1px solid #ccc; padding: 2px 6px; text-align: left; }
td.num { text-align: right; font-family: monospace; }
.failed { color: #b00; font-weight: bold; } .skipped { color: #888; }
figure { display: inline-block; margin: 0.5em; } img { max-width: 100%; border: 1px solid #ddd; }
"""


def _esc(x) -> str:
    return html.escape(str(x))


def _fmt(v) -> str:
    if v is None:
        return '<span class="failed">failed</span>'
    if isinstance(v, float) and math.isnan(v):
        return '<span class="skipped">skipped</span>'
    if float(v) == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.4g}"


def render_page(meta: dict, figures: list, benchmarks: dict, results, asv_site: str | None,
                pages: list = ()) -> str:
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
    out.append('<h2>Benchmarks</h2><table id="benchmarks"><thead><tr><th>benchmark</th>'
               "<th>type</th><th>unit</th><th>parameters</th><th>value</th></tr></thead>"
               "<tbody>")
    names = sorted(set(benchmarks) | ({n for n, _ in results.values} if results else set()))
    for name in names:
        info = benchmarks.get(name)
        btype = info.type if info else ""
        unit = info.unit if info else ""
        rows = results.by_name(name) if results is not None else []
        if not rows:
            out.append(f'<tr class="benchmark"><td>{_esc(name)}</td><td>{_esc(btype)}</td>'
                       f'<td>{_esc(unit)}</td><td></td><td class="skipped">not run</td></tr>')
            continue
        for m in rows:
            out.append(f'<tr class="benchmark"><td>{_esc(name)}</td><td>{_esc(btype)}</td>'
                       f"<td>{_esc(unit)}</td><td>{_esc(', '.join(m.params))}</td>"
                       f'<td class="num">{_fmt(m.value)}</td></tr>')
    out.append("</tbody></table>")
    out.append("<p>Tracked numbers follow asv's lower-is-better convention: ranks and "
               "parameter counts must not change, rank deficits are 0, fit errors fall. "
               "<code>convac gate BASE HEAD</code> applies these rules.</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
