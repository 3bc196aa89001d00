"""The loader's pause of the garbage collector: nested across threads, and never turns it on."""

from __future__ import annotations

import gc
import threading

from gitxds.gcpause import build_paused, collector_paused


def test_pauses_from_two_threads_end_when_the_last_one_does() -> None:
    assert gc.isenabled()
    inside = threading.Event()
    release = threading.Event()

    def other_loader() -> None:
        with collector_paused():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=other_loader)
    with collector_paused():
        thread.start()
        assert inside.wait(10)
    assert not gc.isenabled()  # the other thread is still parsing
    release.set()
    thread.join(10)
    assert gc.isenabled()


def test_a_collector_turned_off_by_the_application_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_build_runs_paused_and_what_it_leaves_alive_is_frozen() -> None:
    """The served state is out of the collector's reach (frozen); the collector runs again after."""
    try:
        with build_paused():
            assert not gc.isenabled()
            built = {"served": [object()]}
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0
        assert not any(o is built for o in gc.get_objects())  # frozen objects are in no generation
    finally:
        gc.unfreeze()
