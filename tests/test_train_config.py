"""`TrainConfig` is defined once: the CLI flags come from its fields and help texts, `job.json` is a serialised
TrainConfig plus run metadata, and "unset" is None everywhere (the trainer turns it into TRL's -1 itself)."""

from __future__ import annotations

import argparse
from dataclasses import fields, replace

import pytest
from conftest import run_cli

from trainer.cli import add_run_args, config_from_args
from trainer.errors import TrainerError
from trainer.presets import PRESETS, TrainConfig, from_dict, stage_steps, to_dict
from trainer.runfolder import Job


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_run_args(parser)
    return parser.parse_args(["--data", "d", "--out", "o", *argv])


def test_every_setting_has_a_flag_with_the_fields_help():
    parser = argparse.ArgumentParser()
    add_run_args(parser)
    actions = {a.dest: a for a in parser._actions}
    for f in fields(TrainConfig):
        if f.name == "extra":
            continue
        assert f.name in actions, f"--{f.name.replace('_', '-')} missing"
        assert actions[f.name].help == f.metadata["help"].replace("%", "%%")


def test_flags_override_the_preset_and_unset_flags_keep_it():
    config = config_from_args(
        parse("--preset", "cpu-smoke", "--lr", "0.1", "--stages", "sft,kto", "--no-bf16")
    )
    assert config == replace(PRESETS["cpu-smoke"], sft_lr=0.1, stages=("sft", "kto"), bf16=False)
    assert config_from_args(parse("--target-modules", "q_proj, v_proj")).target_modules == (
        "q_proj",
        "v_proj",
    )
    assert config_from_args(parse()) == TrainConfig()


@pytest.mark.parametrize("argv", [["--max-steps", "two"], ["--stages", "sft,ppo"], ["--compact-tools", "x"]])
def test_a_bad_flag_is_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse(*argv)
    assert exit_.value.code == 2


def test_unset_is_none_only():
    assert TrainConfig().max_steps is None and stage_steps(TrainConfig(), "sft") == -1
    for name in ("max_steps", "pref_max_steps", "lora_layers", "eval_each_epoch"):
        for value in (0, -1):
            with pytest.raises(TrainerError, match=name):
                TrainConfig(**{name: value})
    proc = run_cli("train", "--data", "x", "--out", "y", "--max-steps", "0")
    assert proc.returncode == 1 and proc.stderr.splitlines()[-1].startswith(
        "error: max_steps must be at least 1"
    )


def test_job_json_round_trips_a_whole_config(tmp_path):
    job = Job(
        replace(PRESETS["cpu-demo"], stages=("sft",), max_steps=3), base="/m", preset="cpu-demo", eval_tasks=2
    )
    job.write(tmp_path)
    assert Job.read(tmp_path) == job
    assert from_dict(to_dict(PRESETS["gpu-qlora"])) == PRESETS["gpu-qlora"]
    with pytest.raises(TrainerError, match="unknown training settings: warp"):
        from_dict({**to_dict(TrainConfig()), "warp": 9})
