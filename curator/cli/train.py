"""`curator train --out DIR`: export the curated set (unless `--data` names an export) and run the
trainer on it (SFT then DPO by default). The trainer itself never reads the store (SPEC 2)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from curator.cli import add_db
from trainer.cli import add_run_args, cmd_run, config_from_args, summary_lines


def register(sub) -> str:
    p = sub.add_parser("train", help="train an adapter (SFT then DPO) on the curated set")
    add_run_args(p, data_required=False)
    p.add_argument(
        "--ablate",
        metavar="V1,V2",
        help="train each variant (stages joined by +, e.g. sft,sft+dpo,sft+kto) from the same export and "
        "evaluate it and the base on the same held-out tasks: one table",
    )
    p.add_argument("--eval-tasks", type=int, metavar="N", help="with --ablate: held-out tasks (default all)")
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
        if args.ablate:
            from trainer.ablate import ablate

            return ablate(
                args.data, args.out, args.base, config_from_args(args), args.ablate, args.eval_tasks
            )
        return cmd_run(args)


def human(result: dict) -> str:
    if "rows" in result:
        from trainer.ablate import table_lines

        return "\n".join(table_lines(result))
    return "\n".join(summary_lines(result))
