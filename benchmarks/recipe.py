"""The demo recipe, searched on the train split: what each settings change gives (issue 13, part 6).

The sample set is imported into a fresh store, decided by its source labels and exported once (as
`benchmarks/loop.py` does); then every change (a name and settings over one preset) trains SFT then DPO from the
base on that export, each in its own process, and the base and every change run the agent benchmark on the same
*train* tasks of the sample world. The 41 held-out tasks are never touched: they stay the final test.

    python benchmarks/recipe.py [--preset cpu-demo] [--eval-tasks 30] [--out DIR] \\
        --try preset: --try lr1e-3:sft_lr=1e-3 --try 2-epochs:epochs=2,sft_lr=1e-3

Each `--try NAME:FIELD=VALUE,...` sets `TrainConfig` fields as their CLI flags do (`NAME:` alone: the preset as
is); separate settings with `;` instead when a value holds commas
(`rpo:dpo_loss=sigmoid,sft;dpo_loss_weights=1,0.2`). Prints one table (the ablation's columns) and writes
DIR/recipe.json and DIR/recipe.png. Heavy: about 10 minutes per change on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from loop import decide_and_export

from curator.errors import CuratorError
from curator.ingest import import_file
from curator.paths import SAMPLE_TRAJECTORIES
from curator.store import Store
from trainer.ablate import Variant, figure, table_lines, train_and_benchmark
from trainer.errors import TrainerError
from trainer.evaluate import benchmark_tasks
from trainer.presets import PRESETS, TrainConfig, parse_value


def parse_change(text: str) -> tuple[str, dict]:
    """`lr1e-3:sft_lr=1e-3,epochs=2` -> ("lr1e-3", {"sft_lr": 0.001, "epochs": 2.0}); one-line error otherwise."""
    name, _, settings = text.partition(":")
    if not name.strip() or "/" in name:
        raise argparse.ArgumentTypeError(f"--try {text}: give NAME:FIELD=VALUE,... (a name without '/')")
    parts = settings.split(";") if ";" in settings else settings.split(",")
    changes = {}
    for part in filter(None, (p.strip() for p in parts)):
        key, eq, value = part.partition("=")
        if not eq or key.strip() not in TrainConfig.__dataclass_fields__:
            raise argparse.ArgumentTypeError(
                f"--try {text}: '{part}' is not FIELD=VALUE of a training setting"
            )
        try:
            changes[key.strip()] = parse_value(key.strip(), value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"--try {text}: {exc}") from None
    return name.strip(), changes


def search(args: argparse.Namespace, out: Path) -> dict:
    """Export once, train and benchmark every change; the table (`trainer.ablate` rows, each with its changes)."""
    started = time.perf_counter()
    preset = replace(PRESETS[args.preset], stages=("sft", "dpo"), eval_split="train")
    with Store(out / "store.duckdb") as store:
        import_file(store, str(SAMPLE_TRAJECTORIES))
    export = decide_and_export(out / "store.duckdb", out / "export", preset.seed)
    variants = [Variant(name, out / "export", replace(preset, **changes)) for name, changes in args.changes]
    tasks = benchmark_tasks(args.eval_tasks, preset)
    rows = train_and_benchmark(variants, out / "runs", args.base, tasks)
    for row, (_, changes) in zip(rows[1:], args.changes, strict=True):
        row["changes"] = {k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()}
    return {
        "tasks": len(tasks),
        "split": "train",
        "task_ids": [t.id for t in tasks],
        "rows": rows,
        "preset": args.preset,
        "export": {k: export[k] for k in ("sft", "dpo", "kto", "pairs")},
        "wall_s": round(time.perf_counter() - started, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-demo", choices=list(PRESETS))
    parser.add_argument("--eval-tasks", type=int, default=30, help="the first N train tasks (default 30)")
    parser.add_argument("--try", dest="changes", type=parse_change, action="append", required=True)
    parser.add_argument("--base", help="base model (default: the embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--out", type=Path, help="folder for everything (default: a new temp folder)")
    args = parser.parse_args()
    names = [name for name, _ in args.changes]
    if len(set(names)) < len(names):
        parser.error(f"--try: every change needs its own name (got {', '.join(names)})")
    out = (args.out or Path(tempfile.mkdtemp(prefix="recipe-"))).resolve()
    if (out / "store.duckdb").exists():
        parser.error(f"{out} holds an earlier search: choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    try:
        table = search(args, out)
    except (CuratorError, TrainerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    (out / "recipe.json").write_text(json.dumps(table, indent=2))
    fig = figure(table)
    fig.axes[0].set_title(
        f"Recipe changes over {args.preset} (SFT then DPO), {len(table['task_ids'])} train tasks"
    )
    fig.savefig(out / "recipe.png")
    print("\n".join(table_lines(table, f"recipe changes over {args.preset}")))
    for name, changes in args.changes:
        print(f"{name}: {changes or 'the preset as is'}")
    print(f"wall time {table['wall_s'] / 60:.1f} min; figures in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
