"""`curator select --budget N --out DIR`: an export of a chosen subset of the accepted set (SPEC 12)."""

from __future__ import annotations

from curator.cli import add_db, add_json
from curator.cli.export import _fraction, progress_bar
from curator.export import FILE_FORMATS
from curator.similarity import DEFAULT_THRESHOLD
from curator.store import Store
from curator.subset import STRATEGIES, select_store


def register(sub) -> str:
    p = sub.add_parser(
        "select", help="export a budget of accepted trajectories chosen for coverage and diversity"
    )
    p.add_argument("--budget", type=int, metavar="N", help="how many trajectories (not needed for all)")
    p.add_argument(
        "--strategy",
        default="diverse",
        choices=STRATEGIES,
        help="diverse (coverage, then farthest-point; default), random, or all",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of ties, the random sample and the split")
    p.add_argument("--out", required=True, metavar="DIR", help="export folder to create")
    p.add_argument("--format", default="jsonl", choices=FILE_FORMATS, help="as `curator export`")
    p.add_argument("--eval-fraction", type=_fraction, default=0.1, metavar="F", help="as `curator export`")
    p.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"near-duplicate cosine threshold (default {DEFAULT_THRESHOLD})",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export at DIR")
    add_db(p)
    add_json(p)
    return "select"


def run(args) -> dict:
    # writable: missing embeddings are computed and kept
    Store(args.db, read_only=True).close()  # a missing store is an error, never created here
    with Store(args.db) as store, progress_bar(args.json) as progress:
        return select_store(
            store,
            args.out,
            budget=args.budget,
            strategy=args.strategy,
            seed=args.seed,
            threshold=args.threshold,
            file_format=args.format,
            eval_fraction=args.eval_fraction,
            overwrite=args.overwrite,
            progress=progress,
        )


def human(result: dict) -> str:
    s = result["selection"]
    return (
        f"wrote {result['out']}: {s['chosen']} of {s['accepted']} accepted trajectories "
        f"({s['strategy']}, seed {s['seed']}); sft: {result['sft']['train']} train, "
        f"{result['sft']['eval']} eval"
        + (
            f"\n  fewer than the budget of {s['budget']}: the rest are near-duplicates of those chosen"
            if s["budget"] and s["chosen"] < min(s["budget"], s["accepted"])
            else ""
        )
    )
