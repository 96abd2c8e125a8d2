from __future__ import annotations

from pathlib import Path

import pytest

from dlcli.atomic import atomic_path, check_writable, write_text
from dlcli.errors import OutputExistsError


def test_write_text_replaces_atomically_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.csv"
    write_text(target, "a,b\n")
    write_text(target, "c,d\n")
    assert target.read_text() == "c,d\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.csv"]


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "model.keras"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        assert tmp.suffix == ".keras"  # writers such as model.save check the suffix
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_check_writable_refuses_existing_file_without_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "preds.csv"
    check_writable(target, overwrite=False)  # absent: fine
    target.write_text("x")
    with pytest.raises(OutputExistsError) as info:
        check_writable(target, overwrite=False)
    assert "--overwrite" in str(info.value) and str(target) in str(info.value)
    check_writable(target, overwrite=True)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_written_file_gets_umask_mode_not_private_temp_mode(
    tmp_path: Path, umask: int, mode: int
) -> None:
    import os

    from dlcli import atomic

    old = os.umask(umask)
    atomic._umask.cache_clear()  # read once per process; re-read for this umask
    try:
        target = tmp_path / "out.txt"
        write_text(target, "x")
    finally:
        os.umask(old)
        atomic._umask.cache_clear()
    assert target.stat().st_mode & 0o777 == mode


def test_the_rename_is_made_durable_by_syncing_the_folder(tmp_path: Path, monkeypatch) -> None:
    import os
    import stat

    target = tmp_path / "metrics.json"
    folder = os.stat(tmp_path)
    real_fsync = os.fsync
    synced: list[tuple[bool, str | None]] = []  # (a folder?, the target's text at that moment)

    def spy(fd: int) -> None:
        info = os.fstat(fd)
        is_folder = stat.S_ISDIR(info.st_mode) and info.st_ino == folder.st_ino
        synced.append((is_folder, target.read_text() if target.exists() else None))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    write_text(target, "new")
    assert synced[0] == (False, None)  # the temporary file's data, before the rename
    assert synced[-1] == (True, "new")  # then the folder, after the rename
