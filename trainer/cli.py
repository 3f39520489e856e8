"""`python -m trainer run|merge|eval` and the pieces `curator train` / `curator merge` reuse (SPEC 8).

Exit codes: 0 ok, 1 job failure (one line on stderr), 2 bad usage (argparse). With `--json`, stdout holds exactly
one JSON object: everything else the libraries print goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

from trainer.errors import TrainerError, disk_full_message, require_adapter, require_data_folder
from trainer.evaluate import add_eval_args
from trainer.presets import (
    PRESETS,
    TrainConfig,
    field_type,
    get_preset,
    parse_value,
    settable,
    with_overrides,
)

METAVARS = {int: "N", float: "X", str: "TEXT"}


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """One flag per settable `TrainConfig` field (`--max-steps` for `max_steps`), its help from the field: the
    flags are derived, never listed. A flag not given is None, so the preset's value stays."""
    group = parser.add_argument_group("training settings (default: the preset's)")
    for f in settable():
        flags = [f"--{f.name.replace('_', '-')}", *f.metadata.get("flags", ())]
        help = f.metadata["help"].replace("%", "%%")
        if field_type(f.name) is bool:
            group.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction, help=help)
        else:
            group.add_argument(
                *flags,
                dest=f.name,
                type=_parser(f.name),
                metavar="LIST" if "parse" in f.metadata else METAVARS.get(field_type(f.name), "VALUE"),
                help=help,
            )


def _parser(name: str):
    def parse(text: str):
        try:
            return parse_value(name, text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    parse.__name__ = name  # argparse names the field in its usage error
    return parse


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The preset (`--preset`) with every field flag that was given."""
    return with_overrides(get_preset(args.preset), **{f.name: getattr(args, f.name) for f in settable()})


def add_run_args(parser: argparse.ArgumentParser, *, data_required: bool = True) -> None:
    parser.add_argument("--data", required=data_required, help="export folder (curator export --out DIR)")
    parser.add_argument("--out", required=True, help="run folder: adapters, checkpoints, metrics.jsonl")
    parser.add_argument(
        "--base", help="Hugging Face id or local folder; default: embedded SmolLM2-135M-Instruct"
    )
    parser.add_argument("--preset", help=f"one of {', '.join(PRESETS)}")
    parser.add_argument(
        "--resume", action="store_true", help="continue a killed run from its last checkpoint"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_config_args(parser)


def add_merge_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--adapter", required=True, help="adapter folder (e.g. RUN/dpo/adapter)")
    parser.add_argument("--out", required=True, help="folder for the merged full-precision model")
    parser.add_argument("--base", help="base model (default: the one the adapter was trained on)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def cmd_run(args: argparse.Namespace) -> dict:
    if not args.data:
        raise TrainerError("--data EXPORT_DIR is required")
    config = config_from_args(args)
    require_data_folder(args.data)
    from trainer.run import train

    return train(args.data, args.out, args.base, config, resume=args.resume)


def cmd_merge(args: argparse.Namespace) -> dict:
    require_adapter(args.adapter)
    from trainer.merge import merge

    return merge(args.adapter, args.out, args.base)


def cmd_eval(args: argparse.Namespace) -> dict:
    if args.adapter:
        require_adapter(args.adapter)
    from trainer.evaluate import cmd_eval as evaluate_command

    return evaluate_command(args)


def summary_lines(result: dict) -> list[str]:
    """The human summary of a result."""
    if "task_ids" in result:  # an evaluation
        from trainer.evaluate import summary

        return [summary(result)]
    lines = [f"{k}: {v}" for k, v in result.items() if k != "stages"]
    for stage, s in result.get("stages", {}).items():
        lines.append(
            f"{stage}: {s['steps']} steps, loss {s['loss_first']} -> {s['loss_last']}, "
            f"{s['tokens_per_s']} tokens/s"
        )
    return lines


def execute(command, args: argparse.Namespace) -> int:
    """Run a command the SPEC 8 way: one-line errors, exit codes, `--json` alone on stdout."""
    try:
        with contextlib.redirect_stdout(sys.stderr):
            result = command(args)
    except TrainerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if (message := disk_full_message(exc, args.out)) is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1
    if os.environ.get("RANK", "0") == "0":  # under `accelerate launch`, the main process answers
        print(json.dumps(result) if args.json else "\n".join(summary_lines(result)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    add_run_args(commands.add_parser("run", help="train SFT then DPO (or KTO) on an export folder"))
    add_merge_args(commands.add_parser("merge", help="merge an adapter into its full-precision base"))
    add_eval_args(
        commands.add_parser("eval", help="agent benchmark on the held-out tasks: base vs base + adapter")
    )
    args = parser.parse_args(argv)
    command = {"run": cmd_run, "merge": cmd_merge, "eval": cmd_eval}[args.command]
    return execute(command, args)
