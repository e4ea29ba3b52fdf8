"""``convac serve``: the reports folder over HTTP on the loopback interface.

asv's published site loads its data with ``fetch``, which browsers refuse for ``file://``
pages ("Error fetching content"), so both reports (asv's site in ``reports/html`` and the
depth-efficiency report in ``reports/depth-efficiency``) are read through a small HTTP
server of the standard library, bound to 127.0.0.1 only.
"""

from __future__ import annotations

import functools
import http.server
import os
import sys

__all__ = ["DEFAULT_ROOT", "DEFAULT_PORT", "PAGES", "make_server", "urls", "register"]

DEFAULT_ROOT = "reports"
DEFAULT_PORT = 8080
HOST = "127.0.0.1"

PAGES = (("asv site", "html/"), ("depth-efficiency report", "depth-efficiency/"))
"""``(title, path below the root)`` of each report the server announces."""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files; logs nothing per request (the command prints its URLs once)."""

    def log_message(self, format, *args):  # noqa: A002 - the standard library's name
        pass


def make_server(root: str = DEFAULT_ROOT, port: int = DEFAULT_PORT
                ) -> http.server.ThreadingHTTPServer:
    """A server of the files under ``root`` on ``127.0.0.1:port`` (``port=0``: any free
    port; the one chosen is ``server.server_address[1]``); start it with
    ``serve_forever()``.

    Raises
    ------
    InvalidValueError
        ``root`` is not a folder, or ``port`` is out of range.
    OSError
        The port is taken.
    """
    from ..validate import InvalidValueError, integer

    port = integer(port, "port", minimum=0)
    if port > 65535:
        raise InvalidValueError(f"port must be at most 65535, got {port}")
    if not os.path.isdir(root):
        raise InvalidValueError(f"no folder {root!r} to serve; build the reports first "
                                "(make bench), or pass --dir")
    handler = functools.partial(_QuietHandler, directory=os.path.abspath(root))
    return http.server.ThreadingHTTPServer((HOST, port), handler)


def urls(server: http.server.HTTPServer) -> list:
    """``[(title, url)]`` of each report on ``server``."""
    port = server.server_address[1]
    return [(title, f"http://{HOST}:{port}/{path}") for title, path in PAGES]


def _run(args) -> int:
    from ..validate import InvalidValueError

    try:
        server = make_server(args.dir, args.port)
    except OSError as exc:
        raise InvalidValueError(f"cannot listen on {HOST}:{args.port} ({exc.strerror}); "
                                "choose another --port (0: any free one)") from exc
    with server:
        for title, url in urls(server):
            missing = "" if os.path.isdir(os.path.join(args.dir, url.rsplit("/", 2)[1])) \
                else "  (not built yet: make bench)"
            print(f"{title + ':':25s} {url}{missing}", flush=True)
        print(f"serving {os.path.abspath(args.dir)} on {HOST} only; Ctrl-C stops",
              file=sys.stderr, flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


def register(sub) -> None:
    """Add the ``serve`` subcommand."""
    p = sub.add_parser(
        "serve", help="serve the reports (asv site, depth-efficiency report) over HTTP on "
                      "127.0.0.1 and print their URLs",
        description="asv's site cannot be opened from the file system (its pages fetch "
                    "their data over HTTP); this serves the reports folder on the loopback "
                    "interface until Ctrl-C.")
    p.add_argument("--dir", default=DEFAULT_ROOT,
                   help="folder to serve (default: %(default)s)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help="TCP port on 127.0.0.1; 0 picks a free one (default: %(default)s)")
    p.set_defaults(func=_run)
