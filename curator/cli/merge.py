"""`curator merge --adapter DIR --out DIR`: fold an adapter into its full-precision base."""

from __future__ import annotations

from trainer.cli import add_merge_args, cmd_merge, summary_lines


def register(sub) -> str:
    add_merge_args(sub.add_parser("merge", help="merge an adapter into its full-precision base"))
    return "merge"


def run(args) -> dict:
    return cmd_merge(args)


def human(result: dict) -> str:
    return "\n".join(summary_lines(result))
