"""The config version: the commit in a Git work tree, else one content hash of the files, whatever order."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gitxds.gitops.version import ConfigVersion, FilesVersion, files_version
from gitxds.hashing import content_hash


def test_the_version_depends_on_names_and_contents_not_on_order() -> None:
    files = [("a.yaml", b"one"), ("b/c.yaml", b"two")]
    version = files_version(files)
    assert version == files_version(list(reversed(files)))
    assert version != files_version([("a.yaml", b"one"), ("b/c.yaml", b"two!")])
    assert version != files_version([("a.yaml", b"one"), ("b/d.yaml", b"two")])
    assert version != files_version([("a.yaml", b"onetwo"), ("b/c.yaml", b"")]), "no ambiguity at joins"


def test_content_hashes_are_short_and_stable() -> None:
    assert content_hash(b"gitxds") == content_hash(b"gitxds")
    assert len(content_hash(b"gitxds")) == 16
    assert len(files_version([("a.yaml", b"x")])) == 16


def test_the_kept_version_gives_what_a_fresh_one_gives_after_each_change() -> None:
    """Kept between reloads, it re-hashes only new contents; the version is the same as from scratch."""
    kept = FilesVersion()
    one, two = b"one", b"two"
    for files in (
        [("a.yaml", one), ("b/c.yaml", two)],
        [("a.yaml", one), ("b/c.yaml", b"two, edited")],
        [("a.yaml", one)],
        [("a.yaml", b"one"), ("b/c.yaml", two), ("b/c.yaml", b"a second entry for one file")],
    ):
        assert kept(files) == files_version(files)


def test_the_version_of_a_read_is_the_commit_in_git_and_the_content_hash_outside(tmp_path: Path) -> None:
    """``git status`` runs while the files are read; the version is the one that read saw."""
    files = [("a.yaml", b"one")]
    (tmp_path / "a.yaml").write_bytes(b"one")
    outside = ConfigVersion(tmp_path)
    assert outside.begin()(files) == files_version(files)
    for command in (["init", "-q"], ["add", "a.yaml"], ["commit", "-qm", "one"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *command], cwd=tmp_path, check=True
        )
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, check=True, capture_output=True, text=True
    )
    inside = ConfigVersion(tmp_path)
    assert inside.begin()(files) == sha.stdout.strip()
    (tmp_path / "a.yaml").write_bytes(b"two")
    assert inside.begin()([("a.yaml", b"two")]) == sha.stdout.strip() + "-dirty"
