"""The reports folder over HTTP on the loopback interface (``convac serve``).

asv's published site loads its data with ``fetch``, which browsers refuse for ``file://``
pages ("Error fetching content"), so both reports (asv's site in ``reports/html`` and the
depth-efficiency report in ``reports/depth-efficiency``) are read through a small HTTP
server of the standard library, bound to 127.0.0.1 only.
"""

from __future__ import annotations

import functools
import http.server
import os

from ...validate import InvalidValueError, integer
from ..results import DEFAULT_SERVE_PORT as DEFAULT_PORT
from ..results import DEFAULT_SERVE_ROOT as DEFAULT_ROOT

__all__ = ["DEFAULT_ROOT", "DEFAULT_PORT", "HOST", "PAGES", "make_server", "urls"]

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
