"""Stopping on SIGTERM/SIGINT: one helper for `run`, `serve`, the bench and the window (core.deploy.signals)."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from core.deploy.signals import on_stop_signals, sigterm_as_keyboard_interrupt


def test_sigterm_unwinds_the_block_like_ctrl_c_and_the_old_handler_comes_back() -> None:
    before, sigint = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    unwound = []
    with pytest.raises(KeyboardInterrupt):
        with sigterm_as_keyboard_interrupt():
            try:
                os.kill(os.getpid(), signal.SIGTERM)  # a real signal, delivered to this (main) thread
            finally:
                unwound.append(True)
    assert unwound == [True]
    assert signal.getsignal(signal.SIGTERM) is before
    assert signal.getsignal(signal.SIGINT) is sigint  # Ctrl-C was left alone


def test_stop_handler_runs_on_both_signals_and_is_a_no_op_off_the_main_thread() -> None:
    seen: list[int] = []
    with on_stop_signals(lambda signum, _frame: seen.append(signum)):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
    assert sorted(seen) == sorted([signal.SIGINT, signal.SIGTERM])

    errors: list[BaseException] = []

    def off_main() -> None:
        try:
            with sigterm_as_keyboard_interrupt():
                pass
        except BaseException as err:  # noqa: BLE001 - the test reports whatever escaped
            errors.append(err)

    t = threading.Thread(target=off_main)
    t.start()
    t.join()
    assert errors == []


def test_the_first_signal_asks_the_loop_to_stop_and_the_second_interrupts() -> None:
    """`run` stops between rounds on Ctrl-C/SIGTERM (no exception inside a lock); Ctrl-C twice stops at once."""
    from core.deploy.signals import stop_requested_on_signals

    before = signal.getsignal(signal.SIGINT)
    with stop_requested_on_signals() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested and stop.signum == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before
