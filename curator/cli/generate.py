"""`curator generate --env ENV --teacher URL_OR_MODEL`: run a teacher on an environment's tasks and store each
episode as a pending trajectory labelled by the environment's reward (SPEC 8, 11; the library is
`curator.generate`)."""

from __future__ import annotations

import contextlib
import sys

from curator.cli import add_db, add_json


def register(sub) -> str:
    from curator.generate import EMBEDDED, GenerateConfig
    from trainer.evaluate import add_env_args

    d = GenerateConfig()
    p = sub.add_parser("generate", help="generate trajectories: a teacher runs an environment's tasks")
    add_env_args(p, "train")
    p.add_argument(
        "--teacher",
        required=True,
        metavar="URL_OR_MODEL",
        help="an OpenAI-compatible endpoint (http://HOST:PORT/v1; key from OPENAI_API_KEY), or a local model: "
        f"{EMBEDDED} (the embedded SmolLM2), a Hugging Face id or folder, or an adapter folder",
    )
    p.add_argument("--teacher-model", metavar="NAME", help="the model name at the endpoint")
    p.add_argument(
        "--samples", type=int, default=d.samples, metavar="K", help="episodes per task (default 1)"
    )
    p.add_argument("--temperature", type=float, default=d.temperature, metavar="T", help="default 0.7")
    p.add_argument(
        "--max-steps", type=int, default=d.max_steps, metavar="N", help="assistant turns per episode"
    )
    p.add_argument(
        "--max-tokens", type=int, default=d.max_tokens, metavar="N", help="tokens per assistant turn"
    )
    p.add_argument(
        "--concurrency", type=int, default=d.concurrency, metavar="N", help="requests in flight (endpoint)"
    )
    p.add_argument(
        "--keep",
        choices=("all", "success"),
        default=d.keep,
        help="store every episode, or only successes (rejection sampling; the rest are counted)",
    )
    p.add_argument("--limit", type=int, metavar="N", help="the first N tasks of the split")
    p.add_argument("--seed", type=int, default=d.seed, help="sampling seed of a local teacher")
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
