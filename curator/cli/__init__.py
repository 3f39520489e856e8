"""The `curator` command: a thin layer over the library (SPEC 8).

Each command lives in its own module here with `register(subparsers)` and `run(args) -> dict`.
`run` returns the `--json` object; `human(result)` (optional) renders the summary people read.
Exit 0 on success, 1 on a failure of the job (one line on stderr), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import sys

import orjson

from curator.errors import CuratorError, JobError  # noqa: F401  (JobError: the commands raise it)

COMMANDS = (
    "import_",
    "stats",
    "bulk",
    "export",
    "serve",
    "users",
    "train",
    "merge",
    "eval",
    "select",
    "similar",
    "coverage",
    "backup",
    "generate",
)


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(prog="curator", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {}
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"curator.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"curator.cli.{name}":
                raise
            continue  # a command whose module is not written yet is simply absent
        command = module.register(sub)
        modules[command] = module
    return parser, modules


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH", help="store file (default: $CURATOR_DB or ./curator.duckdb)")


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print exactly one JSON object on stdout instead of a summary"
    )


def main(argv: list[str] | None = None) -> int:
    from trainer.errors import TrainerError, disk_full_message

    parser, modules = build_parser()
    args = parser.parse_args(argv)
    module = modules[args.command]
    try:
        result = module.run(args)
    except (CuratorError, TrainerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if (message := disk_full_message(exc, "output")) is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; nothing half-written was kept", file=sys.stderr)
        return 1
    if result is None:
        return 0
    if getattr(args, "json", False):
        sys.stdout.write(orjson.dumps(result, default=str).decode() + "\n")
    else:
        print(
            module.human(result)
            if hasattr(module, "human")
            else orjson.dumps(result, default=str, option=orjson.OPT_INDENT_2).decode()
        )
    return int(result.get("exit_code", 0)) if isinstance(result, dict) else 0
