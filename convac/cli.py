"""The ``convac`` command: one subcommand per module in :data:`COMMAND_MODULES`.

Each module exposes ``register(subparsers)``, which adds its subparser and sets
``func`` (called with the parsed arguments, returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "COMMAND_MODULES"]

COMMAND_MODULES = (
    "convac.table",
    "convac.sweep",
    "convac.report",
    "convac.gate",
    "convac.rank_methods",  # issue 11: `convac rank`
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convac", description="Depth efficiency of convolutional arithmetic circuits."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
