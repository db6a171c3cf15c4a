"""Forced exit for a shutdown that does not finish in time.

A clean shutdown finishes the current batch, commits it and closes every
client. When that takes longer than ``SHUTDOWN_TIMEOUT_SECONDS``, or the
operator sends a second SIGINT or SIGTERM, the process stops the embedded
broker child (which would otherwise outlive it, having its own session) and
exits with status 1. A batch cut short that way was not committed, so the
next worker reads it again and the content-keyed aggregates absorb the repeat.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

FORCED_EXIT_STATUS = 1


def force_exit(reason: str, stop_children: Callable[[], None]) -> None:
    """Stop the child processes, then end this process at once with status 1."""
    logger.error("exiting without a clean shutdown: %s", reason)
    try:
        stop_children()
    except Exception:
        logger.exception("stopping the child processes failed")
    finally:
        logging.shutdown()
        os._exit(FORCED_EXIT_STATUS)


class ShutdownDeadline:
    """Calls :func:`force_exit` from a timer thread unless cancelled within ``seconds``.

    A thread rather than an event-loop timer, because the deadline must fire
    even when the loop itself is blocked.
    """

    def __init__(self, seconds: float, stop_children: Callable[[], None]) -> None:
        self.seconds = seconds
        self._timer = threading.Timer(seconds, self._expire, args=(stop_children,))
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()

    def _expire(self, stop_children: Callable[[], None]) -> None:
        force_exit(f"shutdown took longer than {self.seconds:.0f} s (SHUTDOWN_TIMEOUT_SECONDS)", stop_children)
