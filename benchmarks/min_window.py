"""The minimum training window: how many curated trajectories give most of the gain (issue 16).

On a built-in environment (the sample world by default, or `--env sql`): imports its sample set and decides it by
its source labels (`curator bulk`), then runs the curve as the app's Data tab does: `curator.window` exports, for
each fraction of the accepted set (default 25%, 50%; the whole set always), a subset chosen by `diverse` and one by
`random` (same seed), and `trainer.window` trains SFT on each (the same preset and epochs over its own rows, each
subset in its own process), benchmarks each and the base on the same held-out tasks of the environment, plots task
success against the number of trajectories, and answers how many trajectories give 90% of the full set's gain over
the base and which strategy got there first.

    python benchmarks/min_window.py [--env sample|sql] [--preset cpu-smoke] [--epochs 1] [--eval-tasks 20]
                                    [--out DIR]

Writes DIR/min_window.json (every run's figures) and DIR/min_window.png (the curve).
Heavy: run it under `nice -n 5 flock /tmp/heavy.lock` on a shared machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from curator.ingest import import_file
from curator.paths import SAMPLE_SETS
from curator.review import bulk_by_labels
from curator.store import Store
from curator.window import parse_fractions, prepare_curve
from trainer.window import curve_config, run_curve, summary_lines, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="sample", choices=list(SAMPLE_SETS), help="built-in environment")
    parser.add_argument("--preset", default="cpu-smoke")
    parser.add_argument("--epochs", type=float, default=1.0, help="over each subset's own rows")
    parser.add_argument("--max-steps", type=int, help="per subset (default: the epochs decide)")
    parser.add_argument("--eval-tasks", type=int, default=20, help="held-out tasks (the first N)")
    parser.add_argument("--fractions", type=parse_fractions, default=(0.25, 0.5))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--base", help="base model (default: the embedded SmolLM2-135M-Instruct)")
    parser.add_argument(
        "--out", type=Path, help="folder for min_window.json and .png (default: a temp folder)"
    )
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="min-window-"))
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        with Store(Path(tmp) / "store.duckdb") as store:
            import_file(store, str(SAMPLE_SETS[args.env]))
            bulk_by_labels(store, "bench")
            prepare_curve(
                store,
                Path(tmp) / "curve",
                config=replace(curve_config(args.preset, args.epochs, args.max_steps), eval_env=args.env),
                fractions=args.fractions,
                eval_tasks=args.eval_tasks,
                seed=args.seed,
                base=args.base,
                preset=args.preset,
            )
        result = run_curve(Path(tmp) / "curve")
    result["wall_s"] = round(time.perf_counter() - start, 1)  # with the import and the subsets' exports
    write_result(result, out)
    print("\n".join(summary_lines(result)))
    print(f"wall time {result['wall_s'] / 60:.1f} min; figures in {out}")


if __name__ == "__main__":
    main()
