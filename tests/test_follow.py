"""Following a run folder: only the appended bytes are read, the log is shown without library warnings
and with one readable line per progress bar, and the stage and step come from the log as it is written."""

from __future__ import annotations

import json

from curator import follow

LOG = (
    "/venv/lib/python3.11/site-packages/transformers/x.py:12: FutureWarning: `foo` is deprecated\n"
    "  warnings.warn(\n"
    "preparing rows\n"
    "sft: training on 8 rows\n"
    "  0%|          | 0/4 [00:00<?, ?it/s]\r 25%|██▌       | 1/4 [00:05<00:15,  5.00s/it]\r"
    " 50%|█████     | 2/4 [00:10<00:10,  5.00s/it]\n"
    "\x1b[A\x1b[A 75%|███████▌  | 3/4 [00:15<00:05,  5.00s/it]\n"
    "{'loss': 2.5, 'epoch': 0.5}\n"
    "tuned:   0%|          | 0/2 [00:00<?, ?it/s]\rtuned: 100%|██████████| 2/2 [00:04<00:00,  2.0s/it]\r     \r\n"
)


def test_the_log_is_shown_clean_with_stage_and_step(tmp_path):
    (tmp_path / "log.txt").write_text(LOG)
    text, view = follow.log(tmp_path, 16)
    assert text.splitlines() == [
        "preparing rows",
        "sft: training on 8 rows",
        "progress: 3/4 (75%) · 00:15 elapsed, 00:05 left",
        "{'loss': 2.5, 'epoch': 0.5}",
        "tuned: 2/2 (100%) · 00:04 elapsed, 00:00 left",  # a bar cleared at its end shows its last state
    ]
    assert view.stage == "sft" and view.bar == ("tuned", 2, 2)


def test_only_new_bytes_are_read_and_the_line_being_written_is_shown(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("sft: training on 8 rows\n")
    follow.log(tmp_path)
    followed = follow._follow(tmp_path).log_file
    assert followed.offset == path.stat().st_size
    with open(path, "a") as fh:
        fh.write("dpo: training on 4 rows\n 50%|█████     | 2/4 [00:10<00:10,  5.00s/it]")
    before = followed.offset
    text, view = follow.log(tmp_path)
    assert followed.offset > before and followed.partial.startswith(b" 50%")
    assert text.splitlines()[-2:] == [
        "dpo: training on 4 rows",
        "progress: 2/4 (50%) · 00:10 elapsed, 00:10 left",
    ]
    assert view.stage == "dpo" and view.bar == ("progress", 2, 4)
    stamp = follow.stamp(tmp_path)
    assert follow.stamp(tmp_path) == stamp  # nothing new: the same stamp, nothing to redraw


def test_metrics_are_parsed_once_and_a_half_written_line_waits(tmp_path):
    path = tmp_path / "train" / "metrics.jsonl"
    path.parent.mkdir()
    path.write_text(json.dumps({"step": 1, "loss": 2.0}) + "\n" + '{"step": 2, "lo')
    assert follow.metrics(tmp_path) == [{"step": 1, "loss": 2.0}]
    with open(path, "a") as fh:
        fh.write('ss": 1.5}\n')
    assert follow.metrics(tmp_path) == [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}]
    path.write_text(json.dumps({"step": 1, "loss": 9.0}) + "\n")  # replaced (a new run in the folder)
    assert follow.metrics(tmp_path)[-1] == {"step": 1, "loss": 9.0}
