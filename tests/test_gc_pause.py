"""The collector is held off while a batch is parsed and recorded, and always resumes: after
nested pauses, after an exception, and never when it was off before."""

from __future__ import annotations

import gc

import pytest

from exporter.gc_tuning import collector_paused


def test_nested_pauses_resume_the_collector_once_the_last_ends() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_exception_in_a_pause_resumes_the_collector() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("batch failed")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
