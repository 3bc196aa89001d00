"""Which files a config directory is made of, and how each one that is not read says why.

The same listing serves every command and ``gitxds serve`` (``DirectoryLoader``), so these cases are
checked once here and end to end in e2e/test_security_input_limits.py.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

import pytest

from gitxds.config import DirectoryLoader, Limits, load_directory
from gitxds.config.files import ConfigFile, list_config_files, read_config_file
from gitxds.errors import Reason

CANARY = "canary-3f9a1c"
BACKEND = (
    "apiVersion: gitxds.dev/v1alpha1\nkind: Backend\nmetadata: {{name: {name}}}\n"
    "spec: {{dns: {{hostname: b, port: 80}}}}\n"
)


def _config(root: Path) -> Path:
    config = root / "config"
    config.mkdir()
    (config / "a.yaml").write_text(BACKEND.format(name="a"))
    return config


def _outside(root: Path) -> Path:
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret").write_text(f"Bearer sk-{CANARY}\n")
    (outside / "b.yaml").write_text(BACKEND.format(name=CANARY))
    return outside


def _reported(config: Path) -> list[tuple[str, Reason]]:
    loaded = load_directory(config)
    assert all(CANARY not in str(d) for d in loaded.diagnostics)
    return [(d.file, d.reason) for d in loaded.diagnostics]


def test_a_link_to_a_file_outside_is_refused_and_never_read(tmp_path: Path) -> None:
    config, outside = _config(tmp_path), _outside(tmp_path)
    (config / "routes").mkdir()
    (config / "routes" / "leak.yaml").symlink_to(outside / "secret")
    (config / "rel.yaml").symlink_to("../outside/secret")
    (config / "README").symlink_to(outside / "secret")  # not a config file name: not looked at
    assert _reported(config) == [
        ("rel.yaml", Reason.LINK_OUTSIDE_CONFIG),
        ("routes/leak.yaml", Reason.LINK_OUTSIDE_CONFIG),
    ]
    [problem] = [d for d in load_directory(config).diagnostics if d.file == "rel.yaml"]
    assert str(outside) not in str(problem) and "secret" not in str(problem)


def test_a_link_to_a_folder_outside_is_refused_and_not_walked(tmp_path: Path) -> None:
    config, outside = _config(tmp_path), _outside(tmp_path)
    (config / "x.yaml").symlink_to(outside)
    (config / "shared").symlink_to(outside)
    listing = list_config_files(config)
    assert [f.relpath for f in listing.files] == ["a.yaml"]
    assert [(d.file, d.reason) for d in listing.refused] == [
        ("shared", Reason.LINK_OUTSIDE_CONFIG),
        ("x.yaml", Reason.LINK_OUTSIDE_CONFIG),
    ]


def test_links_inside_are_followed_as_a_mounted_config_map_lays_them_out(tmp_path: Path) -> None:
    config = _config(tmp_path)
    data = config / "..2026_12_03"
    data.mkdir()
    (data / "b.yaml").write_text(BACKEND.format(name="b"))
    (config / "..data").symlink_to("..2026_12_03")
    (config / "b.yaml").symlink_to("..data/b.yaml")
    (config / ".extra").mkdir()
    (config / ".extra" / "c.yaml").write_text(BACKEND.format(name="c"))
    (config / "more").symlink_to(".extra")
    loaded = load_directory(config)
    assert loaded.diagnostics == ()
    assert [(d.name, d.file) for d in loaded.documents] == [
        ("a", "a.yaml"),
        ("b", "b.yaml"),
        ("c", "more/c.yaml"),
    ]


def test_a_link_cycle_is_reported_once_and_listing_ends(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (config / "sub").mkdir()
    (config / "sub" / "up").symlink_to("..")
    (config / "self").symlink_to(".")
    (config / "again").symlink_to("sub")
    assert _reported(config) == [
        ("again", Reason.LINK_CYCLE),
        ("self", Reason.LINK_CYCLE),
        ("sub/up", Reason.LINK_CYCLE),
    ]


def test_the_config_dir_may_be_a_link_or_below_one(tmp_path: Path) -> None:
    """The git-sync layout: the boundary is where the directory resolves when listing starts."""
    real = _config(tmp_path)
    (tmp_path / "current").symlink_to(real.parent)
    (real / "b.yaml").symlink_to(real / "a.yaml")  # an absolute link, through the real path
    listing = list_config_files(tmp_path / "current" / "config")
    assert [f.relpath for f in listing.files] == ["a.yaml", "b.yaml"] and listing.refused == ()


def test_special_files_are_refused_without_being_opened(tmp_path: Path) -> None:
    config = _config(tmp_path)
    os.mkfifo(config / "fifo.yaml")  # opening it for reading would block until a writer comes
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(config / "sock.yaml"))
        (config / "zero.yaml").symlink_to("/dev/zero")
        (config / "null.yml").symlink_to("/dev/null")
        assert _reported(config) == [
            ("fifo.yaml", Reason.NOT_A_REGULAR_FILE),
            ("null.yml", Reason.LINK_OUTSIDE_CONFIG),
            ("sock.yaml", Reason.NOT_A_REGULAR_FILE),
            ("zero.yaml", Reason.LINK_OUTSIDE_CONFIG),
        ]


def test_a_file_swapped_for_a_fifo_after_listing_is_not_read(tmp_path: Path) -> None:
    config = _config(tmp_path)
    [entry] = list_config_files(config).files
    (config / "a.yaml").unlink()
    os.mkfifo(config / "a.yaml")
    problem = read_config_file(entry)
    assert not isinstance(problem, bytes) and problem is not None
    assert problem.reason is Reason.NOT_A_REGULAR_FILE


def test_a_file_grown_after_listing_is_not_read_past_the_limit(tmp_path: Path) -> None:
    config = _config(tmp_path)
    [entry] = list_config_files(config, Limits(max_file_bytes=200)).files
    (config / "a.yaml").write_text("#" * 1000)
    problem = read_config_file(entry, Limits(max_file_bytes=200))
    assert not isinstance(problem, bytes) and problem is not None
    assert problem.reason is Reason.FILE_TOO_LARGE


@pytest.mark.parametrize("error", [errno.EACCES, errno.EIO, errno.EMFILE])
def test_an_error_reading_a_file_is_its_diagnostic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: int
) -> None:
    config = _config(tmp_path)
    (config / "b.yaml").write_text(BACKEND.format(name="b"))
    real_open = os.open

    def failing_open(path: str, flags: int, *args: int) -> int:
        if path.endswith("b.yaml"):
            raise OSError(error, os.strerror(error), path)
        return real_open(path, flags, *args)

    monkeypatch.setattr("gitxds.config.files.os.open", failing_open)
    loaded = load_directory(config)
    [problem] = loaded.diagnostics
    assert (problem.file, problem.reason) == ("b.yaml", Reason.UNREADABLE_FILE)
    assert os.strerror(error) in problem.message and str(tmp_path) not in problem.message
    assert [d.name for d in loaded.documents] == ["a"]


def test_an_unlistable_folder_is_its_diagnostic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(tmp_path)
    (config / "locked").mkdir()
    real_scandir = os.scandir

    def failing_scandir(path: str) -> object:
        if path.endswith("locked"):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr("gitxds.config.files.os.scandir", failing_scandir)
    assert _reported(config) == [("locked/", Reason.UNREADABLE_FILE)]


def test_a_file_gone_while_reading_is_left_out(tmp_path: Path) -> None:
    config = _config(tmp_path)
    [entry] = list_config_files(config).files
    (config / "a.yaml").unlink()
    assert read_config_file(entry) is None


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    config = _config(tmp_path)
    with (config / "big.yaml").open("wb") as big:
        big.truncate(50 * 1024 * 1024)  # sparse: reading it would take 50 MB
    assert _reported(config) == [("big.yaml", Reason.FILE_TOO_LARGE)]


def test_files_past_the_directory_limits_are_refused(tmp_path: Path) -> None:
    config = _config(tmp_path)
    for name in ("b", "c", "d"):
        (config / f"{name}.yaml").write_text(BACKEND.format(name=name))
    size = (config / "a.yaml").stat().st_size
    by_bytes = Limits(max_total_bytes=2 * size)
    listing = list_config_files(config, by_bytes)
    assert [f.relpath for f in listing.files] == ["a.yaml", "b.yaml"]
    assert [(d.file, d.reason) for d in listing.refused] == [
        ("c.yaml", Reason.CONFIG_TOO_LARGE),
        ("d.yaml", Reason.CONFIG_TOO_LARGE),
    ]
    by_count = list_config_files(config, Limits(max_files=3))
    assert [(d.file, d.reason) for d in by_count.refused] == [("d.yaml", Reason.CONFIG_TOO_LARGE)]


def test_serve_and_the_commands_see_the_same_files_and_diagnostics(tmp_path: Path) -> None:
    config, outside = _config(tmp_path), _outside(tmp_path)
    (config / "leak.yaml").symlink_to(outside / "secret")
    os.mkfifo(config / "fifo.yaml")
    (config / "bad.yaml").write_bytes(b"\xff\xfe")
    once = load_directory(config)
    again = DirectoryLoader(config)
    assert again.load().config == once
    assert again.load().config == once


def test_only_changed_files_are_parsed_again(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (config / "b.yaml").write_text(BACKEND.format(name="b"))
    loader = DirectoryLoader(config)
    assert loader.load().reparsed == 2
    assert loader.load().reparsed == 0
    (config / "b.yaml").write_text(BACKEND.format(name="b2"))
    second = loader.load()
    assert second.reparsed == 1
    assert [d.name for d in second.config.documents] == ["a", "b2"]


def test_a_refused_file_changes_the_content_the_version_is_hashed_from(tmp_path: Path) -> None:
    config = _config(tmp_path)
    loader = DirectoryLoader(config)
    before = loader.load().contents
    os.mkfifo(config / "fifo.yaml")
    assert loader.load().contents != before


def test_config_file_signature_changes_with_the_content(tmp_path: Path) -> None:
    config = _config(tmp_path)
    [first] = list_config_files(config).files
    (config / "a.yaml").write_text(BACKEND.format(name="a-longer"))
    [second] = list_config_files(config).files
    assert isinstance(first, ConfigFile) and first.signature != second.signature
