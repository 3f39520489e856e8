"""Hostile files: a byte-order mark is skipped; nesting deeper than the limit, a number too large
for a double and one line over the record limit are each one line naming the file (or the line),
never a traceback, and never stop the good records beside them."""

from __future__ import annotations

import json

from conftest import run_cli

from curator.importers import Bad, parse_file
from curator.importers.files import BOM, MAX_DEPTH, MAX_RECORD_BYTES

CHAT = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}


def items(path):
    parsed = parse_file(path)
    return parsed.format, list(parsed.items)


def test_bom_is_skipped_in_json_lines_and_json(tmp_path):
    lines = tmp_path / "bom.jsonl"
    lines.write_bytes(BOM + b"\n".join(json.dumps(CHAT | {"id": i}).encode() for i in range(3)) + b"\n")
    fmt, found = items(lines)
    assert fmt == "openai" and len(found) == 3 and not any(isinstance(i, Bad) for i in found)
    whole = tmp_path / "bom.json"
    whole.write_bytes(BOM + json.dumps([CHAT]).encode())
    fmt, found = items(whole)
    assert fmt == "openai" and len(found) == 1


def test_deep_nesting_is_one_line_naming_the_file(tmp_path, db):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    proc = run_cli("import", str(deep), db=db)
    assert "Traceback" not in proc.stderr + proc.stdout
    assert f"{deep}: nested deeper than {MAX_DEPTH} levels" in proc.stdout + proc.stderr
    deep_object = tmp_path / "deep_object.json"
    deep_object.write_text('{"a":' * 200_000 + "1" + "}" * 200_000)
    proc = run_cli("import", str(deep_object), db=db)
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "nested deeper than" in proc.stdout + proc.stderr


def test_deep_line_among_good_lines_is_quarantined_alone(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join([json.dumps(CHAT), "[" * 5000 + "]" * 5000, json.dumps(CHAT | {"id": 2})]))
    _, found = items(path)
    bad = [i for i in found if isinstance(i, Bad)]
    assert len(found) == 3 and [b.where for b in bad] == ["line 2"]
    assert bad[0].reason == f"nested deeper than {MAX_DEPTH} levels"


def test_huge_number_is_one_line(tmp_path, db):
    path = tmp_path / "big.json"
    path.write_text(json.dumps([CHAT])[:-2] + ', "reward": 1' + "0" * 100_000 + "}]")
    proc = run_cli("import", str(path), db=db)
    assert "Traceback" not in proc.stderr + proc.stdout
    assert f"{path}: a number too large to read" in proc.stdout + proc.stderr
    lines = tmp_path / "big.jsonl"
    lines.write_text(json.dumps(CHAT) + "\n" + '{"reward": 1' + "0" * 5000 + "}\n")
    _, found = items(lines)
    assert [i.reason for i in found if isinstance(i, Bad)] == ["a number too large to read"]


def test_one_huge_line_is_reported_not_parsed(tmp_path):
    path = tmp_path / "huge.jsonl"
    with open(path, "w") as fh:
        fh.write(json.dumps(CHAT) + "\n")
        fh.write('{"messages": "' + "x" * (MAX_RECORD_BYTES + 10) + '"}\n')
        fh.write(json.dumps(CHAT | {"id": 3}) + "\n")
    _, found = items(path)
    bad = [i for i in found if isinstance(i, Bad)]
    assert len(found) == 3 and bad[0].where == "line 2" and "record limit" in bad[0].reason
    assert len(bad[0].raw) < 100_000
