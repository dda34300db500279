"""Memory and CPU of the host's process and its plugins', sampled with psutil when status or
metrics are asked (never per message)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class ProcessSample:
    """One process's memory and CPU when it was sampled."""

    pid: int
    rss_bytes: int
    peak_rss_bytes: int  # the most resident memory it has had (the kernel's high-water mark)
    cpu_percent: float  # since the previous sample (since it started, at the first); 100 = one core
    cpu_seconds: float  # user and system time since it started


class ProcessSampler:
    """Samples processes by pid, keeping each one's last CPU time to give its use since then."""

    def __init__(self) -> None:
        self._last: dict[int, tuple[float, float, float]] = {}  # pid -> (create time, wall, cpu seconds)
        self._peaks: dict[int, int] = {}  # where the kernel keeps no high-water mark: the most seen

    def sample(self, pid: int) -> ProcessSample | None:
        """The process's figures now, or None when there is no such process (any more)."""
        try:
            process = psutil.Process(pid)
            with process.oneshot():
                created = process.create_time()
                rss = process.memory_info().rss
                times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            self._last.pop(pid, None)
            self._peaks.pop(pid, None)
            return None
        cpu = times.user + times.system
        now = time.time()
        since_created, since_wall, since_cpu = self._last.get(pid, (created, created, 0.0))
        if since_created != created:  # the pid was reused by a new process
            since_wall, since_cpu = created, 0.0
        self._last[pid] = (created, now, cpu)
        wall = now - since_wall
        percent = 100.0 * (cpu - since_cpu) / wall if wall > 0 else 0.0
        peak = max(_high_water_mark(pid) or 0, self._peaks.get(pid, 0), rss)
        self._peaks[pid] = peak
        return ProcessSample(pid, rss, peak, round(max(percent, 0.0), 2), round(cpu, 3))

    def forget_others(self, pids: set[int]) -> None:
        """Drop what is kept for processes not among `pids` (they stopped)."""
        for pid in set(self._last) - pids:
            self._last.pop(pid, None)
            self._peaks.pop(pid, None)


def _high_water_mark(pid: int) -> int | None:
    """The process's peak resident memory in bytes (Linux: VmHWM), None where it is not kept."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
