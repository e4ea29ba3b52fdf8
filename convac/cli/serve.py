"""What ``convac serve`` runs (its parser: :func:`convac.cli.parsers.serve`)."""

from __future__ import annotations

import os
import sys

from ..bench.report.serve import HOST, make_server, urls
from ..validate import InvalidValueError


def _run(args) -> int:
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
