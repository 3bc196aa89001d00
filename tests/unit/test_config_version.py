"""The config version outside Git: one content hash of the files, whatever order they were read in."""

from __future__ import annotations

from gitxds.gitops.version import FilesVersion, files_version
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
