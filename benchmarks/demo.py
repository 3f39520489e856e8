"""The demo end to end, as a person does it, in headless Chromium: `curator serve --demo`, accept a few
trajectories with the keyboard, open Train, click Train with the defaults (embedded SmolLM2-135M-Instruct,
`cpu-demo`, SFT then DPO, all held-out tasks), and wait for base vs tuned to show.

    .venv/bin/python benchmarks/demo.py [--review 3] [--limit-min 40] [--out DIR]
                                        [--preset NAME] [--max-steps N] [--eval-tasks N]   # a shorter run
                                        [--seed N]                                         # another seed

Prints the wall time from the click to the results on screen (target: 25 minutes on 2 CPU cores), the
training figures of each stage and base vs tuned on the held-out tasks (target: tuned beats base on
valid tool-call rate and task success), and the CPU seconds the `curator serve` process itself spent
while the browser followed the run (target: under 3% of one core: the live view must not slow the
training it shows). The run folder (export, adapters, log, evaluation.json) and screenshots stay in DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from harness import CHROMIUM, CHROMIUM_ARGS, free_port

ROOT = Path(__file__).resolve().parents[1]


def serve(folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "curator",
            "serve",
            "--demo",
            "--db",
            str(folder / "demo.duckdb"),
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=(folder / "serve.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit(f"curator serve exited {proc.returncode}: {(folder / 'serve.log').read_text()}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("curator serve did not answer in 60 s")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of the process itself, not of its children (the job is one)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fill_form(page, args) -> None:
    """The Train form's defaults, or the shorter run asked for."""
    if args.preset:
        page.click("#tr-preset input")
        page.click(f"[role=option][aria-label='{args.preset}']")
    if args.max_steps:
        page.fill("#tr-max-steps :is(input, textarea)", str(args.max_steps))
    if args.eval_tasks is not None:
        page.fill("#tr-eval-tasks input", str(args.eval_tasks))
    if args.seed is not None:
        page.locator("#tr-more").get_by_text("more settings").click()
        page.fill("#tr-seed :is(input, textarea)", str(args.seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--review", type=int, default=3, help="trajectories to accept by keyboard first")
    parser.add_argument("--limit-min", type=float, default=40, help="give up after this many minutes")
    parser.add_argument(
        "--out", type=Path, help="folder for the store, run and screenshots (default: temporary)"
    )
    parser.add_argument("--preset", help="Train form preset (default: the form's, cpu-demo)")
    parser.add_argument("--max-steps", type=int, help="Train form max steps per stage (default: unset)")
    parser.add_argument("--eval-tasks", type=int, help="Train form held-out tasks (default: all)")
    parser.add_argument(
        "--seed", type=int, help="Train form seed: data order, LoRA init (default: the preset's, 0)"
    )
    args = parser.parse_args()
    folder = args.out or Path(tempfile.mkdtemp(prefix="curator-demo-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    proc, url = serve(folder)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_selector("#cards .traj")
            for _ in range(args.review):
                before = page.get_attribute("#cards .traj", "data-traj")
                page.keyboard.press("a")
                page.wait_for_function(
                    "b => document.querySelector('#cards .traj')?.dataset.traj !== b", arg=before
                )
            page.click("#train-pane-button")
            page.wait_for_selector("#tr-train")
            fill_form(page, args)
            preset = page.input_value("#tr-preset input")
            tasks = page.input_value("#tr-eval-tasks input")
            clicked = time.monotonic()
            page.click("#tr-train")
            page.wait_for_function(
                "() => (document.getElementById('tr-message')?.innerText || '').includes('started')",
                timeout=600_000,
            )
            started, cpu_before = time.monotonic(), cpu_seconds(proc.pid)  # after the export
            page.wait_for_function(
                "() => /succeeded|failed|cancelled/.test("
                "document.getElementById('tr-phase')?.innerText || '')",
                timeout=args.limit_min * 60_000,
                polling=2000,
            )
            phase = page.inner_text("#tr-phase")
            if "succeeded" in phase:
                page.wait_for_selector("#tr-eval table", timeout=60_000)
            followed, server_cpu = time.monotonic() - started, cpu_seconds(proc.pid) - cpu_before
            shown = time.monotonic() - clicked
            page.screenshot(path=str(folder / "demo-train.png"), full_page=True)
            browser.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    run = max((folder / "runs").glob("run-*"))
    seed = json.loads((run / "job.json").read_text())["config"]["seed"]  # the run's, not the flag's
    print(
        f"preset {preset}, seed {seed}, {tasks} held-out tasks, {args.review} trajectories reviewed by keyboard"
    )
    print(f"click Train -> results on screen: {shown / 60:.1f} min ({phase.strip()})")
    print(
        f"curator serve CPU while the browser followed the run (after the export): {server_cpu:.1f} s "
        f"over {followed:.0f} s = {100 * server_cpu / followed:.1f}% of one core (target: under 3%)"
    )
    if not (run / "result.json").is_file():
        print((run / "log.txt").read_text()[-3000:])
        sys.exit(1)
    result = json.loads((run / "result.json").read_text())
    for stage, figures in result["stages"].items():
        print(f"{stage}: {figures}")
    evaluation = json.loads((run / "evaluation.json").read_text())
    for metric in (
        "task_success",
        "valid_tool_call_rate",
        "unknown_tool_rate",
        "schema_valid_rate",
        "mean_steps",
        "wall_s",
    ):
        print(
            f"{metric:22} base {evaluation['base'][metric]!s:>8}   tuned {evaluation['tuned'][metric]!s:>8}"
        )
    print(f"run folder {run}")


if __name__ == "__main__":
    main()
