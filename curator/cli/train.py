"""`curator train --out DIR`: export the curated set (unless `--data` names an export) and run the
trainer on it (SFT then DPO by default). The trainer itself never reads the store (SPEC 2)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from curator.cli import add_db
from trainer.cli import add_run_args, cmd_run, summary_lines


def register(sub) -> str:
    p = sub.add_parser("train", help="train an adapter (SFT then DPO) on the curated set")
    add_run_args(p, data_required=False)
    add_db(p)
    return "train"


def run(args) -> dict:
    if not args.data:
        from curator.export import export_store
        from curator.store import Store

        args.data = str(Path(args.out) / "export")
        with Store(args.db, read_only=True) as store:
            export_store(store, args.data, overwrite=args.resume)
    with contextlib.redirect_stdout(sys.stderr):  # with --json, stdout holds the one object
        return cmd_run(args)


def human(result: dict) -> str:
    return "\n".join(summary_lines(result))
