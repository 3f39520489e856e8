"""`curator generate --env ENV --teacher URL_OR_MODEL`: run a teacher on an environment's tasks and store each
episode as a pending trajectory labelled by the environment's reward (SPEC 8, 11; the library is
`curator.generate`)."""

from __future__ import annotations

import contextlib
import sys

from curator.cli import add_db, add_json


def register(sub) -> str:
    from curator.generate import KEEP, GenerateConfig, help_of
    from trainer.evaluate import add_env_args

    d = GenerateConfig()
    p = sub.add_parser("generate", help="generate trajectories: a teacher runs an environment's tasks")
    add_env_args(p, "train")
    p.add_argument("--teacher", required=True, metavar="URL_OR_MODEL", help=help_of("teacher"))
    p.add_argument("--teacher-model", metavar="NAME", help=help_of("teacher_model"))
    for name, metavar, kind in (
        ("samples", "K", int),
        ("temperature", "T", float),
        ("max_steps", "N", int),
        ("max_tokens", "N", int),
        ("concurrency", "N", int),
    ):
        default = getattr(d, name)
        p.add_argument(
            f"--{name.replace('_', '-')}",
            type=kind,
            default=default,
            metavar=metavar,
            help=f"{help_of(name)} (default {default})",
        )
    p.add_argument("--keep", choices=KEEP, default=d.keep, help=help_of("keep"))
    p.add_argument("--limit", type=int, metavar="N", help=help_of("limit"))
    p.add_argument("--seed", type=int, default=d.seed, help=help_of("seed"))
    add_db(p)
    add_json(p)
    return "generate"


def run(args) -> dict:
    from curator.generate import GenerateConfig, generate

    config = GenerateConfig(
        env=args.env,
        task_file=args.task_file,
        split=args.split,
        teacher=args.teacher,
        teacher_model=args.teacher_model,
        samples=args.samples,
        temperature=args.temperature,
        max_steps=args.max_steps,
        max_tokens=args.max_tokens,
        concurrency=args.concurrency,
        keep=args.keep,
        limit=args.limit,
        seed=args.seed,
    )
    with contextlib.redirect_stdout(sys.stderr):  # with --json, stdout holds the one JSON object only
        return generate(config, args.db, show_progress=not args.json or sys.stderr.isatty())


def human(result: dict) -> str:
    lines = [
        (
            f"{result['episodes']} episodes ({result['success']} success, {result['failure']} failure) on "
            f"{result['env']} {result['split']} with {result['teacher']}: {result['stored']} stored, "
            f"{result['duplicates']} duplicates, {result['discarded']} not kept, {result['skipped']} done before"
        ),
        f"{result['episodes_per_s']} episodes/s, {result['tokens_per_s']} tokens/s",
    ]
    lines += [f"error: task {e['task_id']} sample {e['sample']}: {e['reason']}" for e in result["errors"]]
    return "\n".join(lines)
