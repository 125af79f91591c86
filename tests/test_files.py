"""Files replaced in one step."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bot.core.files import write_atomically


def test_replaces_the_file_and_leaves_nothing_beside_it(tmp_path: Path) -> None:
    """The new text replaces the old; no temporary file is left in the folder."""
    target = tmp_path / "deep" / "state.json"
    write_atomically(target, "old")
    write_atomically(target, "new", mode=0o644)
    assert target.read_text(encoding="utf-8") == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the rename fails, the old content stays and the temporary file is removed."""
    target = tmp_path / "state.json"
    write_atomically(target, "old")

    def refuse(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("bot.core.files.os.replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
