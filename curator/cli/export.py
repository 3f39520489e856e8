"""`curator export --out DIR`: write SFT, DPO and KTO datasets from the reviewed store (SPEC 6, 8)."""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from datetime import datetime

from tqdm import tqdm

from curator.cli import add_db, add_json
from curator.export import DEFAULT_REHEARSAL_RATIO, FILE_FORMATS, ExportFilters, export_store
from curator.filters import FilterError, parse_when
from curator.layouts import TARGETS, apply_layout
from curator.store import Store


def register(sub) -> str:
    p = sub.add_parser("export", help="write SFT / DPO / KTO datasets from the reviewed store")
    p.add_argument("--out", required=True, metavar="DIR", help="export folder to create")
    p.add_argument(
        "--format",
        default="jsonl",
        choices=FILE_FORMATS,
        help="jsonl (default), parquet, or hf (a datasets.save_to_disk folder per kind)",
    )
    p.add_argument(
        "--for",
        dest="target",
        default="trl",
        choices=TARGETS,
        help="whose dataset layout: trl (default), llamafactory (ShareGPT + dataset_info.json) "
        "or axolotl (chat_template + config snippets); the last two are JSON Lines",
    )
    p.add_argument(
        "--eval-fraction",
        type=_fraction,
        default=0.1,
        metavar="F",
        help="share of tasks held out in the eval split (default 0.1)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the task split (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export at DIR")
    p.add_argument(
        "--salvage-prefixes",
        action="store_true",
        help="also train on the steps of a failed trajectory before its first faulty step "
        "(SFT rows whose assistant turns carry a train flag)",
    )
    p.add_argument(
        "--prm",
        action="store_true",
        help="also write DIR/prm/: stepwise-supervision rows (prompt, completions, labels) for a process reward model",
    )
    p.add_argument(
        "--rehearsal",
        metavar="FILE",
        help="JSON Lines of general chat rows (messages) to mix into SFT training",
    )
    p.add_argument(
        "--rehearsal-ratio",
        type=_fraction,
        default=None,
        metavar="R",
        help=f"share of the SFT training split that is rehearsal (default {DEFAULT_REHEARSAL_RATIO})",
    )
    f = p.add_argument_group("filters (default: everything reviewed)")
    f.add_argument("--file", metavar="PATTERN", help="only trajectories from matching files (glob)")
    f.add_argument("--source-format", metavar="NAME", help="only trajectories of this import format")
    f.add_argument("--teacher", metavar="NAME", help="only trajectories of this teacher model")
    f.add_argument("--reviewer", metavar="NAME", help="only decisions made by this reviewer")
    f.add_argument(
        "--since",
        type=_when,
        metavar="DATE",
        help="only decisions from this time on (a bare date: from the start of that day)",
    )
    f.add_argument(
        "--until",
        type=_when_end,
        metavar="DATE",
        help="only decisions up to this time (a bare date: that whole day included)",
    )
    f.add_argument(
        "--tag",
        nargs="+",
        default=[],
        metavar="TAG",
        help="only failures with one of these tags (accepted ones are kept)",
    )
    add_db(p)
    add_json(p)
    p.set_defaults(export_parser=p)
    return "export"


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 0 and below 1")
    return value


def _when(text: str, end: bool = False) -> datetime:
    try:
        return parse_when(text, end=end, name="--until" if end else "--since")
    except FilterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _when_end(text: str) -> datetime:
    return _when(text, end=True)


def run(args) -> dict:
    if args.rehearsal_ratio is not None and not args.rehearsal:
        args.export_parser.error("--rehearsal-ratio needs --rehearsal FILE")
    if args.rehearsal_ratio == 0:
        args.export_parser.error("--rehearsal-ratio must be above 0")
    if args.target != "trl" and args.format != "jsonl":
        args.export_parser.error(
            f"--for {args.target} writes JSON Lines; --format {args.format} is for --for trl"
        )
    filters = ExportFilters(
        source_file=args.file,
        source_format=args.source_format,
        teacher=args.teacher,
        reviewer=args.reviewer,
        since=args.since,
        until=args.until,
        tags=tuple(args.tag),
    )
    with Store(args.db, read_only=True) as store, progress_bar(args.json) as progress:
        result = export_store(
            store,
            args.out,
            file_format=args.format,
            eval_fraction=args.eval_fraction,
            seed=args.seed,
            filters=filters,
            rehearsal=args.rehearsal,
            rehearsal_ratio=args.rehearsal_ratio or DEFAULT_REHEARSAL_RATIO,
            overwrite=args.overwrite,
            progress=progress,
            salvage=args.salvage_prefixes,
            prm=args.prm,
        )
    return result if args.target == "trl" else {**result, **apply_layout(args.out, args.target)}


@contextmanager
def progress_bar(quiet: bool):
    """A `progress(fraction, message)` callback drawing a bar on a terminal (not with --json)."""
    bar = tqdm(total=100, unit="%", disable=quiet or not sys.stderr.isatty())

    def progress(fraction: float, message: str) -> None:
        bar.set_postfix_str(message[-40:])
        bar.update(round(fraction * 100) - bar.n)

    try:
        yield progress
    finally:
        bar.close()


def human(result: dict) -> str:
    lines = [f"wrote {result['out']}" + (f" for {result['for']}" if "for" in result else "")]
    for kind in ("sft", "dpo", "kto"):
        lines.append(f"  {kind}: {result[kind]['train']} train, {result[kind]['eval']} eval")
    pairs = result["pairs"]
    lines.append(
        f"  pairs: {pairs['edit']} edit, {pairs['same_task']} same-task, "
        f"{pairs['compare']} compare; tasks: {result['tasks']['train']} train, "
        f"{result['tasks']['eval']} eval"
    )
    if result.get("rehearsal"):
        r = result["rehearsal"]
        lines.append(
            f"  rehearsal: {r['used']} rows mixed in from {r['file']}"
            + (f" ({r['bad_count']} bad lines left out, see manifest.json)" if r["bad_count"] else "")
            + (
                f"; wanted {r['wanted']}, the file has only {r['available']}"
                if r["used"] < r["wanted"]
                else ""
            )
        )
    if result.get("left_out"):
        lines.append(
            f"  {result['left_out']} rows {result['for']} cannot read left out (see layout in manifest.json)"
        )
    if result.get("skipped"):
        lines.append(f"  {result['skipped']} failures left out (see skipped in manifest.json)")
    return "\n".join(lines)
