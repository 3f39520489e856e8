"""The loop, closed and measured (issue 14): rejection-sampling fine-tuning (ETO, RFT) on the sample world.

1. curate: the sample set imported into a fresh store, decided by its source labels (`curator bulk`), exported;
2. round 1: the training job the app runs (`python -m trainer.job`, through `trainer.ablate.train_variant`: its
   own process, so its wall time and peak memory are its own) on that export, from the base;
3. generate: the round-1 adapter as a local teacher runs every *train* task of the sample world K times, sampled
   (`curator.generate`); every episode is stored with its checker's label;
4. round 2: the new successes accepted, the failures failed (same-task pairs with the successes, KTO rows),
   exported again (the curated set plus the new episodes); round 2 trains from the base on it, same settings;
5. base, round 1 and round 2 run the agent benchmark on the same held-out tasks (`trainer.ablate.benchmark`).

Answers with one table (task success, valid calls, unknown-tool rate, schema-valid rate, mean steps, training wall
time and peak RSS per round), the teacher's success rate on the train tasks (= how many episodes were kept), both
exports' sizes and the wall time of each phase.

    python benchmarks/loop.py [--preset cpu-demo] [--stages sft,dpo] [--samples 4] [--temperature 0.8]
                              [--train-tasks N] [--eval-tasks N] [--round1 RUNDIR] [--out DIR] [--json]

Every training setting of `curator train` is a flag too (`--max-steps`, `--seed`, ...). OUT keeps the store, both
exports, both run folders, loop.json and loop.png (task success per round); `--round1 OUT/round1` in a later run
reuses that round 1 instead of training it again. Heavy: run it under `nice -n 5 flock /tmp/heavy.lock` on a
shared machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from curator.errors import CuratorError
from curator.export import export_store
from curator.generate import GenerateConfig, generate
from curator.ingest import import_file
from curator.paths import SAMPLE_TRAJECTORIES
from curator.review import bulk_by_labels
from curator.store import Store
from trainer import runfolder
from trainer.ablate import benchmark, table_lines, train_variant
from trainer.cli import add_config_args, config_from_args
from trainer.errors import TrainerError, require_adapter
from trainer.evaluate import select_tasks
from trainer.policy import DEFAULT_MAX_NEW_TOKENS, ModelPolicy
from trainer.presets import PRESETS, TrainConfig

REVIEWER = "loop"
STORE = "store.duckdb"
COLOURS = {"base": "#64748b", "round1": "#2563eb", "round2": "#ea580c"}


def peak_rss_mb() -> int:
    """This process's peak resident memory so far (the training rounds report their own processes')."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


@contextlib.contextmanager
def phase(phases: dict, name: str):
    """Times one phase; the body may record its own figures (a training process's) in the dict it is given."""
    print(f"loop: {name}", file=sys.stderr, flush=True)
    record: dict = {}
    started = time.perf_counter()
    yield record
    record.setdefault("wall_s", round(time.perf_counter() - started, 1))
    record.setdefault("peak_rss_mb", peak_rss_mb())
    phases[name] = record


def decide_and_export(store_path: Path, out: Path, seed: int) -> dict:
    """What is pending decided by its source labels, then everything decided exported; the export's sizes."""
    with Store(store_path) as store:
        decided = bulk_by_labels(store, REVIEWER)
        exported = export_store(store, out, seed=seed)
    kinds = {k: exported[k] for k in ("sft", "dpo", "kto")}
    rows = sum(v["train"] + v["eval"] for v in kinds.values())
    return {"out": str(out), "decided": decided, **kinds, "rows": rows, "pairs": exported["pairs"]}


def round_one(args, out: Path, export: Path, config: TrainConfig, record: dict) -> Path:
    """Round 1's adapter: trained now, or the finished run folder `--round1` names (its cost then unknown)."""
    folder = args.round1
    if folder is None:
        folder = out / "round1"
        record.update(train_variant(folder, export, args.base, config))
    else:
        job = runfolder.Job.read(folder)
        if (job.config, job.base) != (config, args.base):
            print(
                f"loop: note: {folder} was trained with other settings than round 2 will be; compare with care",
                file=sys.stderr,
            )
        record.update(reused=str(folder), wall_s=None, peak_rss_mb=None)
    return trained_adapter(folder)


def trained_adapter(folder: Path) -> Path:
    """The adapter a finished run folder's training left (its last stage's)."""
    result = folder / runfolder.RESULT
    if not result.is_file():
        raise TrainerError(f"{folder} holds no finished training (no {runfolder.RESULT})")
    adapter = Path(json.loads(result.read_text())["adapter"])
    require_adapter(adapter)
    return adapter


def teacher_config(args, seed: int) -> GenerateConfig:
    """How the round-1 teacher samples (its adapter is set once trained); checked before any work."""
    config = GenerateConfig(
        env="sample",
        split="train",
        samples=args.samples,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        limit=args.train_tasks,
        seed=seed,
    )
    config.check()
    return config


def sample(config: GenerateConfig, store_path: Path, adapter: Path) -> dict:
    """K sampled episodes per train task with the round-1 adapter as the teacher, all stored with their labels."""
    summary = generate(replace(config, teacher=str(adapter)), store_path)
    done = summary["episodes"]
    return {
        **{k: summary[k] for k in ("episodes", "success", "failure", "stored", "duplicates", "errors")},
        "teacher_success_rate": round(summary["success"] / done, 4) if done else None,
        **{k: summary[k] for k in ("tokens", "wall_s", "episodes_per_s", "tokens_per_s", "run")},
        "train_tasks": len(select_tasks(config.limit, split="train")),
        "samples": config.samples,
        "temperature": config.temperature,
    }


def stored_episodes(store_path: Path, run_key: str) -> dict:
    """The generated episodes as the store holds them: {label: {status: trajectories}}."""
    with Store(store_path, read_only=True) as store:
        rows = store.con.execute(
            """SELECT t.source_label, s.status, count(*) FROM generated_episodes g
               JOIN trajectories t USING (traj_hash) JOIN state s USING (traj_id)
               WHERE g.run_key = ? GROUP BY ALL ORDER BY ALL""",
            [run_key],
        ).fetchall()
    held: dict = {}
    for label, status, n in rows:
        held.setdefault(label, {})[status] = n
    return held


def run_loop(args, out: Path) -> dict:
    config = config_from_args(args)
    teacher = teacher_config(args, config.seed)  # bad settings fail before any work
    tasks = select_tasks(args.eval_tasks)
    if args.round1 is not None:
        trained_adapter(args.round1)
    store_path = out / STORE
    phases: dict = {}
    with phase(phases, "curate"):
        with Store(store_path) as store:
            import_file(store, str(SAMPLE_TRAJECTORIES))
        round1_export = decide_and_export(store_path, out / "export-round1", config.seed)
    with phase(phases, "round1_train") as record:
        adapter1 = round_one(args, out, Path(round1_export["out"]), config, record)
    with phase(phases, "generate"):
        generation = sample(teacher, store_path, adapter1)
    with phase(phases, "curate2"):
        round2_export = decide_and_export(store_path, out / "export-round2", config.seed)
        generation["kept"] = round2_export["decided"]["accepted"]
        generation["stored_by_label"] = stored_episodes(store_path, generation["run"])
    with phase(phases, "round2_train") as record:
        record.update(train_variant(out / "round2", Path(round2_export["out"]), args.base, config))
        adapter2 = trained_adapter(out / "round2")
    with phase(phases, "evaluate"):
        untrained = {"wall_s": None, "peak_rss_mb": None}
        rows = [  # the base with the chat template training used (round 1's tokenizer holds it)
            benchmark("base", ModelPolicy(args.base, tokenizer_dir=adapter1), tasks, untrained),
            benchmark("round1", ModelPolicy(args.base, adapter1), tasks, cost(phases["round1_train"])),
            benchmark("round2", ModelPolicy(args.base, adapter2), tasks, cost(phases["round2_train"])),
        ]
    return {
        "preset": args.preset,
        "stages": list(config.stages),
        "seed": config.seed,
        "base": args.base,
        "tasks": len(tasks),
        "task_ids": [t.id for t in tasks],
        "rows": rows,
        "generation": generation,
        "exports": {"round1": round1_export, "round2": round2_export},
        "phases": phases,
        "out": str(out),
    }


def cost(record: dict) -> dict:
    return {k: record[k] for k in ("wall_s", "peak_rss_mb")}


def plot(result: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4))
    ax = figure.subplots()
    names = [r["variant"] for r in result["rows"]]
    values = [r["task_success"] for r in result["rows"]]
    bars = ax.bar(names, values, color=[COLOURS[n] for n in names])
    n = result["tasks"]
    ax.bar_label(bars, labels=[f"{round(v * n)} of {n}" for v in values])
    ax.set_ylim(0, min(1.0, max(0.25, 1.25 * max(values))))
    ax.set_ylabel(f"task success ({n} held-out tasks)")
    g = result["generation"]
    ax.set_xlabel(
        f"round 2 adds the round-1 teacher's {g['stored']} stored episodes:\n"
        f"{g['success']} successes kept, {g['failure']} failures as pairs"
    )
    ax.set_title(f"Rejection-sampling loop (sample world, {result['preset']}, {'+'.join(result['stages'])})")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def report(result: dict) -> list[str]:
    g, e = result["generation"], result["exports"]
    rate = "-" if g["teacher_success_rate"] is None else f"{g['teacher_success_rate']:.0%}"
    return [
        *table_lines(result, "loop"),
        f"generation: {g['episodes']} episodes on {g['train_tasks']} train tasks x {g['samples']} "
        f"(temperature {g['temperature']}): {g['success']} succeeded ({rate}), kept {g['kept']}; "
        f"{g['stored']} stored, {g['duplicates']} duplicates, {len(g['errors'])} errors; "
        f"{g['episodes_per_s']} episodes/s",
        "exports: "
        + "; ".join(
            f"{name} {x['rows']} rows (sft {x['sft']['train']}+{x['sft']['eval']}, "
            f"dpo {x['dpo']['train']}+{x['dpo']['eval']}, kto {x['kto']['train']}+{x['kto']['eval']})"
            for name, x in e.items()
        ),
        "phases: " + ", ".join(f"{name} {spent(p)}" for name, p in result["phases"].items()),
        f"wall time {result['wall_s'] / 60:.1f} min; figures in {result['out']}",
    ]


def spent(record: dict) -> str:
    if record.get("reused"):
        return f"reused ({record['reused']})"
    return f"{record['wall_s']:.0f} s, peak {record['peak_rss_mb']} MB"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-demo", choices=list(PRESETS), help="default cpu-demo")
    parser.add_argument("--base", help="base model (default: the embedded SmolLM2-135M-Instruct)")
    parser.add_argument(
        "--samples", type=int, default=4, metavar="K", help="episodes per train task (default 4)"
    )
    parser.add_argument(
        "--temperature", type=float, default=0.8, help="the teacher's sampling temperature (default 0.8)"
    )
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=DEFAULT_MAX_NEW_TOKENS,
        metavar="N",
        help="tokens per teacher turn (default: the benchmark's own budget)",
    )
    parser.add_argument("--train-tasks", type=int, metavar="N", help="the first N train tasks (default all)")
    parser.add_argument(
        "--eval-tasks", type=int, metavar="N", help="the first N held-out tasks (default all)"
    )
    parser.add_argument(
        "--round1",
        type=Path,
        metavar="RUNDIR",
        help="a finished run folder to reuse as round 1 (e.g. OUT/round1)",
    )
    parser.add_argument("--out", type=Path, help="folder for everything (default: a new temp folder)")
    parser.add_argument("--json", action="store_true", help="print the JSON object on stdout")
    add_config_args(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    out = (args.out or Path(tempfile.mkdtemp(prefix="loop-"))).resolve()
    if (out / STORE).exists():
        print(f"error: {out} holds an earlier loop: choose another --out", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(sys.stderr):  # with --json, stdout holds the one object
            result = run_loop(args, out)
    except (CuratorError, TrainerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    result["wall_s"] = round(time.perf_counter() - started, 1)
    (out / "loop.json").write_text(json.dumps(result, indent=2))
    plot(result, out / "loop.png")
    print(json.dumps(result) if args.json else "\n".join(report(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
