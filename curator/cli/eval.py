"""`curator eval [--adapter DIR] [--base MODEL] [--tasks N]`: run the base (and base + adapter) as an agent on the
held-out tasks of the sample world and compare them (SPEC 7, 8; the harness is `trainer.evaluate`)."""

from __future__ import annotations

import contextlib
import sys


def register(sub) -> str:
    from trainer.evaluate import add_eval_args

    p = sub.add_parser("eval", help="agent evaluation on the held-out tasks: base vs base + adapter")
    add_eval_args(p)
    return "eval"


def run(args) -> dict:
    from curator.cli import JobError
    from trainer.errors import TrainerError, require_adapter

    try:
        if args.adapter:
            require_adapter(args.adapter)  # before the harness loads torch
        from trainer.evaluate import cmd_eval

        with contextlib.redirect_stdout(sys.stderr):  # with --json, stdout holds the one JSON object only
            return cmd_eval(args)
    except TrainerError as exc:
        raise JobError(str(exc)) from None


def human(result: dict) -> str:
    from trainer.evaluate import summary

    return summary(result)
