"""Shared fixtures: a fresh store file per test, the real-data folder, trajectory factories,
and a runner for the real `curator` command in a subprocess."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import pytest

from curator.paths import SAMPLE_TRAJECTORIES

pytest_plugins = ["conftest_trainer"]  # the tiny-model fixtures, for every test that trains

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))  # harness: chromium and free ports, shared with the benchmarks
from harness import CHROMIUM, CHROMIUM_ARGS, free_port  # noqa: E402, F401 (re-exported to the tests)

REALDATA = ROOT.parent / "shared" / "realdata"
SAMPLE = SAMPLE_TRAJECTORIES

# Every process the tests start inherits this marker, so one left running is found at the end
# even after it was reparented (an orphan no longer descends from pytest).
SESSION_MARK = f"CURATOR_TEST_SESSION={uuid.uuid4().hex}"
os.environ["CURATOR_TEST_SESSION"] = SESSION_MARK.split("=", 1)[1]


def left_behind() -> dict[int, str]:
    """Processes of this test session (other than pytest) still running: pid -> command line."""
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        if int(entry.name) == os.getpid():
            continue
        try:
            if SESSION_MARK.encode() not in (entry / "environ").read_bytes().split(b"\0"):
                continue  # not ours (or a zombie: its environment is gone)
            found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
        except OSError:
            continue  # gone meanwhile, or another user's
    return found


def pytest_sessionfinish(session, exitstatus):
    """The suite leaves no process behind: any still running a few seconds after the last test
    fails the session and is killed (so it does not outlive the run)."""
    if not Path("/proc/self/environ").exists():
        return
    deadline = time.monotonic() + 5
    while (leftover := left_behind()) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not leftover:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for pid, cmd in leftover.items():
        if reporter:
            reporter.write_line(f"process left behind by the tests (killed): {pid} {cmd}", red=True)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "store.duckdb"


@pytest.fixture
def curated(db, tmp_path) -> Path:
    """A store with the first 60 sample trajectories decided by their labels: small, so runs stay short."""
    subset = tmp_path / "subset.jsonl"
    subset.write_bytes(b"".join(SAMPLE.read_bytes().splitlines(keepends=True)[:60]))
    cli_json("import", str(subset), db=db)
    cli_json("bulk", "accept", "--source-label", "success", db=db)
    cli_json("bulk", "fail", "--source-label", "failure", db=db)
    return db


@pytest.fixture
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.fail(f"{REALDATA} is missing: the tests read ../shared/realdata beside the repo")
    return REALDATA


@pytest.fixture
def held_store(db):
    """A store file that another process holds open for writing (as `curator serve` would)."""
    from curator.store import Store

    Store(db).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); "
                "print('ready', flush=True); time.sleep(60)"
            ),
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        yield holder
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture(scope="module")
def scripted_teacher():
    """The scripted teacher of `tests/teacher.py` on a free port: its base URL and its FastAPI app."""
    from teacher import scripted_server

    with scripted_server(free_port()) as served:
        yield served


def run_benchmark(script: str, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    """Run `benchmarks/SCRIPT ARGS` in a subprocess that imports what this test session imports."""
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=False,
    )


def run_cli(
    *args: str, db: Path | None = None, check: bool = False, input: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run `curator ARGS` as a user would, in a subprocess."""
    cmd = [sys.executable, "-m", "curator", *args]
    if db is not None:
        cmd += ["--db", str(db)]
    proc = subprocess.run(
        cmd,
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        input=input,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"curator {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def cli_json(*args: str, db: Path | None = None) -> dict:
    proc = run_cli(*args, "--json", db=db, check=True)
    return orjson.loads(proc.stdout)


def chat_record(
    task_id: str,
    steps: list[tuple[str, str, dict, str]],
    final: str | None,
    label: str | None = None,
    **extra,
) -> dict:
    """One OpenAI-chat record: steps of (thought, tool, arguments, result), then a final answer."""
    messages = [
        {"role": "system", "content": "You help with travel."},
        {"role": "user", "content": f"Task {task_id}"},
    ]
    for i, (thought, tool, args, result) in enumerate(steps):
        messages.append(
            {
                "role": "assistant",
                "content": thought,
                "tool_calls": [
                    {
                        "id": f"c{i}",
                        "type": "function",
                        "function": {"name": tool, "arguments": orjson.dumps(args).decode()},
                    }
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": f"c{i}", "name": tool, "content": result})
    if final is not None:
        messages.append({"role": "assistant", "content": final})
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    record = {"task_id": task_id, "messages": messages, "tools": tools, **extra}
    if label:
        record["label"] = label
    return record


def write_jsonl(path: Path, records: list) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path
