"""Recording traffic: dumpcap on one interface, filtered to a port, hosts or a BPF filter, started and stopped safely.

An edge of the pipeline (it runs a process), used by ``duplexlab capture`` and the pytest
plugin. It starts dumpcap, waits until dumpcap says it is capturing and the file has its
header, and on stop waits long enough for the tail to be written (libpcap buffers: stopping
within ~0.1 s of the last packet lost it in 6 of 11 runs, TOOLING.md) before sending SIGINT,
which makes dumpcap finalize the pcapng. When the capture holds nothing, it says which interface
was captured and which interfaces did carry packets meanwhile (from the kernel's counters), since
the usual cause is traffic that went elsewhere.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InputError

if TYPE_CHECKING:  # subprocess, shutil and tempfile load when a recording starts, not with `check`
    import subprocess

TAIL_WAIT = 1.0  # seconds between the last traffic and stopping dumpcap (≥ 0.3 s kept every tail, TOOLING.md)
START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0
DEFAULT_INTERFACE = "lo"


class CaptureError(InputError):
    """Capturing is impossible here; ``str(self)`` says what is missing and how to grant it."""


def capture_filter(port: int | None, hosts: Sequence[str] = (), bpf: str = "") -> str:
    """The BPF filter: the port's TCP and UDP traffic, and any of ``hosts``, and ``bpf`` (all that are given)."""
    parts = []
    if port is not None:
        parts.append(f"tcp port {port} or udp port {port}")
    if hosts:
        parts.append(" or ".join(f"host {h}" for h in hosts))
    if bpf:
        parts.append(bpf)
    if len(parts) == 1:
        return parts[0]
    return " and ".join(f"({p})" for p in parts)


def interface_packets() -> dict[str, int]:
    """Packets received plus sent per network interface, from the kernel's counters (empty where unknown)."""
    try:
        lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    except OSError:
        return {}
    out = {}
    for line in lines:
        name, _, rest = line.partition(":")
        fields = rest.split()
        if len(fields) >= 10 and fields[1].isdigit() and fields[9].isdigit():
            out[name.strip()] = int(fields[1]) + int(fields[9])
    return out


def busy_interfaces(before: dict[str, int], after: dict[str, int]) -> list[str]:
    """The interfaces whose packet counters grew between two readings, busiest first."""
    grew = {name: after[name] - before.get(name, 0) for name in after if after[name] > before.get(name, 0)}
    return sorted(grew, key=lambda n: -grew[n])


class Recorder:
    """``with Recorder(port, path): run_traffic()`` records that port's TCP and UDP traffic into ``path``;
    ``hosts`` and ``bpf`` narrow it further (or replace the port when it is None)."""

    def __init__(self, port: int | None, path: str | os.PathLike, interface: str = DEFAULT_INTERFACE,
                 comment: str = "", hosts: Sequence[str] = (), bpf: str = "") -> None:
        if port is not None and not 0 < port < 65536:
            raise CaptureError(f"--port {port} is not a TCP/UDP port (1-65535).")
        if port is None and not hosts and not bpf:
            raise CaptureError("say what to record: --port PORT, --host ADDR or --filter BPF (or several).")
        self.port, self.path, self.interface, self.comment = port, Path(path), interface, comment
        self.filter = capture_filter(port, hosts, bpf)
        self._proc: subprocess.Popen | None = None
        self._err = None
        self._counters: dict[str, int] = {}
        self.busy: list[str] = []  # after stop: the interfaces that carried packets while recording

    def start(self) -> None:
        import shutil
        import subprocess
        import tempfile

        dumpcap = shutil.which("dumpcap")
        if dumpcap is None:
            raise CaptureError("dumpcap is not installed: install Wireshark's command-line tools (Debian: apt-get "
                               "install tshark), then run again.")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            raise CaptureError(f"cannot write the capture to {self.path}: {exc.strerror}.") from None
        cmd = [dumpcap, "-i", self.interface, "-f", self.filter, "-w", str(self.path), "-q"]
        if self.comment:
            cmd += ["--capture-comment", self.comment]
        self._err = tempfile.TemporaryFile()  # noqa: SIM115  (read while dumpcap runs, closed with it)
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._err)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                failure = self._failure()
                self._proc = None
                self._close()
                raise failure
            if "Capturing on" in self._stderr() and self.path.exists() and self.path.stat().st_size > 0:
                time.sleep(0.2)  # the filter is attached before dumpcap says so; a margin for the kernel
                self._counters = interface_packets()
                return
            time.sleep(0.05)
        self._kill()
        raise CaptureError(f"dumpcap did not start capturing on {self.interface} within {START_TIMEOUT:.0f} s: "
                           f"{self._stderr().strip()[-200:] or 'it said nothing'}.")

    def stop(self) -> Path:
        """Wait for the tail, stop dumpcap, and return the finalized capture file."""
        import subprocess

        proc = self._proc
        if proc is None:
            raise CaptureError("the capture was never started.")
        time.sleep(TAIL_WAIT)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._kill()
                raise CaptureError(f"dumpcap did not stop within {STOP_TIMEOUT:.0f} s after SIGINT; "
                                   f"{self.path} may be incomplete.") from None
        elif proc.returncode != 0:
            raise self._failure()
        self._proc = None
        self._close()
        self.busy = busy_interfaces(self._counters, interface_packets())
        return self.path

    def nothing_captured(self) -> str:
        """The sentence for a capture that holds no packet: what was captured where, and where traffic went."""
        others = [n for n in self.busy if n != self.interface]
        where = (f" Interfaces that carried packets meanwhile: {', '.join(others[:6])} (--interface NAME)."
                 if others else " No other interface carried packets meanwhile.")
        return f"nothing matching '{self.filter}' crossed {self.interface} while recording.{where}"

    def __enter__(self) -> Recorder:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._proc is not None:
            if exc[0] is None:
                self.stop()
            else:
                self._kill()

    def _stderr(self) -> str:
        self._err.seek(0)
        return self._err.read().decode("utf-8", "replace")

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
        self._close()

    def _close(self) -> None:
        if self._err is not None:
            self._err.close()
            self._err = None

    def _failure(self) -> CaptureError:
        said = self._stderr().strip()
        if "permission" in said.lower() or "operation not permitted" in said.lower():
            return CaptureError(
                f"dumpcap may not capture on {self.interface}: capturing needs root or the CAP_NET_RAW and "
                "CAP_NET_ADMIN capabilities (grant them with `sudo setcap cap_net_raw,cap_net_admin+eip "
                "$(command -v dumpcap)`, or on Debian `sudo dpkg-reconfigure wireshark-common` and join the "
                "wireshark group).")
        if "valid capture filter" in said.lower():
            reason = said.split("(", 1)[1].split(")", 1)[0] if "(" in said else "it does not parse"
            return CaptureError(f"the capture filter '{self.filter}' is not valid BPF: {reason}.")
        if "no such device" in said.lower() or "doesn't exist" in said.lower():
            return CaptureError(f"there is no interface {self.interface!r} to capture on (see `dumpcap -D`).")
        return CaptureError(f"dumpcap failed to capture on {self.interface}: {said.splitlines()[-1] if said else ''}")
