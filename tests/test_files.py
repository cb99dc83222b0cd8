"""llmrec.files: the one atomic write (no half files, no temp files left, shared modes) and read_json's errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from llmrec.errors import LLMRecError
from llmrec.files import atomic_open, read_json, write_bytes, write_json, write_text


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def umask():
    """Set a umask for one test and restore the process's own afterwards."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


def test_write_json_is_json_dumps_indented_with_a_newline(tmp_path):
    data = {"b": [1, 2.5, None], "a": {"path": Path("/x"), "text": "caf\u00e9"}}
    write_json(tmp_path / "out.json", data)
    assert (tmp_path / "out.json").read_bytes() == (json.dumps(data, indent=2, default=str) + "\n").encode()


def test_a_value_json_cannot_encode_leaves_no_temp_file_and_the_old_file_intact(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"ok": 1})
    looped: list = []
    looped.append(looped)
    # The first key is written before the loop is found: the failure happens midway through the file.
    for bad in ({"first": "written", "loop": looped}, {"first": "written", (1, 2): "tuple key"}):
        with pytest.raises((ValueError, TypeError)):
            write_json(target, bad)
        assert names(tmp_path) == ["metrics.json"]
        assert json.loads(target.read_text()) == {"ok": 1}


def test_an_interrupt_inside_the_write_removes_the_temp_file(tmp_path):
    target = tmp_path / "sub" / "notes.txt"
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(target) as handle:
            handle.write("half")
            assert len(names(target.parent)) == 1 and not target.exists()  # the temp file, next to the target
            raise KeyboardInterrupt
    assert names(target.parent) == []


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_files_get_the_mode_a_plain_open_gives(tmp_path, umask, mask, mode):
    umask(mask)
    for write, path, value in ((write_text, tmp_path / "a.txt", "x\n"), (write_bytes, tmp_path / "b.bin", b"\0"),
                               (write_json, tmp_path / "c.json", [1])):
        write(path, value)
        assert path.stat().st_mode & 0o777 == mode, path.name


def test_fsync_flushes_before_the_rename(tmp_path, monkeypatch):
    synced: list[bool] = []
    real = os.fsync
    target = tmp_path / "baseline.json"
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(target.exists()) or real(fd))
    write_text(target, "{}\n", fsync=True)
    assert synced == [False] and target.read_text() == "{}\n"
    write_text(target, "[]\n")
    assert synced == [False]  # off unless asked for


def test_write_text_replaces_and_keeps_text_as_given(tmp_path):
    target = tmp_path / "report.md"
    write_text(target, "old\n")
    write_text(target, "| a \u00b1 b |\n")
    assert target.read_bytes() == "| a \u00b1 b |\n".encode("utf-8") and names(tmp_path) == ["report.md"]


def test_read_json_errors_are_one_line_naming_the_file(tmp_path):
    with pytest.raises(LLMRecError, match=r"nope\.json: file not found \(expected metrics\.json of a run\)$"):
        read_json(tmp_path / "nope.json", expected="metrics.json of a run")
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "format": 1,\n  oops\n}')
    with pytest.raises(LLMRecError, match=r"bad\.json:3: invalid JSON \(Expecting property name") as caught:
        read_json(bad)
    assert "\n" not in str(caught.value)
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(LLMRecError, match=r"folder\.json: cannot read"):
        read_json(tmp_path / "folder.json")
    write_json(tmp_path / "good.json", {"format": 1})
    assert read_json(tmp_path / "good.json") == {"format": 1}
