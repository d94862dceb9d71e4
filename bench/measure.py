"""Timing and memory of child processes: wall time, peak RSS of the process tree, medians."""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

POLL_SECONDS = 0.05
# The pause after `sync`, before a timed run, so that the writeback it forced is behind the
# run rather than in its first second; the ~50 timed load runs of `make bench` pay ~30 s for both.
SETTLE_SECONDS = 0.5


@dataclass(frozen=True)
class Settled:
    """What `settle` found and did before a timed run (kept with the run, to judge it by)."""

    dirty_mb: float | None  # page cache waiting to be written back, before the sync
    sync_seconds: float
    pause_seconds: float
    load_average: float  # one-minute load average once settled: other work on the machine

    def as_dict(self) -> dict[str, Any]:
        return {
            "dirty_mb_before_sync": self.dirty_mb,
            "sync_seconds": round(self.sync_seconds, 3),
            "pause_seconds": self.pause_seconds,
            "load_average": round(self.load_average, 2),
        }


def dirty_mb() -> float | None:
    """The system's dirty page cache in MB (`Dirty:` of /proc/meminfo; None where there is none)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("Dirty:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def settle(pause: float = SETTLE_SECONDS) -> Settled:
    """Write every dirty page back (`sync`), then wait `pause` s: a timed run starts with no
    one else's writes queued before its own fsyncs (the PostgreSQL runs just before the 10M-row
    load left ~2 GB; bench/README.md, "The 10M-row point and the reloads")."""
    dirty = dirty_mb()
    started = time.perf_counter()
    os.sync()
    synced = time.perf_counter() - started
    time.sleep(pause)
    return Settled(
        dirty_mb=dirty,
        sync_seconds=synced,
        pause_seconds=pause,
        load_average=os.getloadavg()[0],
    )


@dataclass
class Run:
    """One finished command: how long it took and the most memory it held."""

    seconds: float
    returncode: int
    peak_rss_bytes: int  # the whole process tree, sampled every POLL_SECONDS (see peak_rss_source)
    peak_pss_bytes: int  # the same, shared pages split between processes (every 4th sample)
    # wait4's ru_maxrss of the command's own process. Linux records the address space the
    # process had before exec in it, i.e. this Python process's peak when we launched it: an
    # upper bound, exact only when it is larger than that.
    main_max_rss_bytes: int
    cpu_seconds: float  # user + system of the command and its waited-for children
    system_seconds: float = 0.0  # the system (kernel) part of cpu_seconds
    # "samples" when the command was sampled running; "ru_maxrss (upper bound)" when it ended
    # within the first poll interval, so the samples hold only its state at exec and
    # peak_rss_bytes is main_max_rss_bytes instead.
    peak_rss_source: str = "samples"
    stdout: str = ""
    stderr: str = ""
    settled: Settled | None = None  # the sync and pause before the command, if asked for

    def as_dict(self) -> dict[str, Any]:
        settled = {"settled": self.settled.as_dict()} if self.settled else {}
        return {
            "seconds": round(self.seconds, 4),
            "returncode": self.returncode,
            "peak_rss_mb": mb(self.peak_rss_bytes),
            "peak_pss_mb": mb(self.peak_pss_bytes),
            "main_max_rss_mb": mb(self.main_max_rss_bytes),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "system_seconds": round(self.system_seconds, 3),
            "peak_rss_source": self.peak_rss_source,
            **settled,
        }


@dataclass
class _TreeSampler:
    """Samples the summed RSS of a process and its descendants until stopped.

    `begin` takes the first sample on the caller's thread, before anything can reap the
    process, so a command that ends within the first poll interval is still read once.
    """

    pid: int
    peak: int = 0
    peak_pss: int = 0
    _root: psutil.Process | None = None
    _procs: list[psutil.Process] = field(default_factory=list)
    samples: int = 0
    readings: int = 0  # samples that found the process holding memory
    _stop: threading.Event = field(default_factory=threading.Event)

    def begin(self) -> threading.Thread:
        with contextlib.suppress(psutil.NoSuchProcess):
            self._root = psutil.Process(self.pid)
            self._procs = [self._root]
            self._sample()
        thread = threading.Thread(target=self._loop, daemon=True)
        thread.start()
        return thread

    def _sample(self) -> bool:
        """Add one sample; False once the process is gone."""
        assert self._root is not None
        total = pss = 0
        # Finding children scans every process and PSS reads smaps (about 2 ms a process):
        # both every fourth sample (0.2 s), so the sampler itself stays near 1% of a core.
        slow = self.samples % 4 == 0
        if slow:
            try:
                self._procs = [self._root, *self._root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return False
        for proc in self._procs:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
                if slow:
                    pss += proc.memory_full_info().pss
        self.peak = max(self.peak, total)
        self.peak_pss = max(self.peak_pss, pss)
        self.samples += 1
        self.readings += total > 0  # a zombie, not yet reaped, holds no memory
        return True

    def _loop(self) -> None:
        if self._root is None:
            return
        while not self._stop.wait(POLL_SECONDS):
            if not self._sample():
                return

    def stop(self) -> None:
        self._stop.set()


def run_measured(
    command: Sequence[str | os.PathLike[str]],
    *,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = 1800,
    stdin_path: Path | None = None,
    settle_first: bool = False,
) -> Run:
    """Run `command` to completion, timing it and sampling its memory; output is captured.

    With `settle_first`, `settle` runs just before the command starts (not timed)."""
    settled = settle() if settle_first else None
    stdin = stdin_path.open("rb") if stdin_path else subprocess.DEVNULL
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(part) for part in command],
        env=env,
        cwd=cwd,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # Popen returns once the command has been exec'd; nothing reaps it before `begin` samples it.
    sampler = _TreeSampler(process.pid)
    thread = sampler.begin()
    # Output is drained on threads so a chatty command never blocks on a full pipe.
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [
        threading.Thread(target=lambda: out.append(process.stdout.read()), daemon=True),  # type: ignore[union-attr]
        threading.Thread(target=lambda: err.append(process.stderr.read()), daemon=True),  # type: ignore[union-attr]
    ]
    for reader in readers:
        reader.start()
    # wait4 on its own thread: it blocks until the child ends and gives the child's rusage.
    waited: list[tuple[int, int, Any]] = []
    ended = [0.0]

    def wait() -> None:
        waited.append(os.wait4(process.pid, 0))
        ended[0] = time.perf_counter()

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    waiter.join(timeout)
    if waiter.is_alive():
        process.kill()
        waiter.join()
    _, status, rusage = waited[0]
    seconds = ended[0] - started
    process.returncode = os.waitstatus_to_exitcode(status)
    sampler.stop()
    thread.join()
    for reader in readers:
        reader.join()
    if stdin_path:
        stdin.close()  # type: ignore[union-attr]
    assert rusage is not None
    main_max_rss = rusage.ru_maxrss * 1024
    # The first sample is taken just after exec (a few pages) or of a zombie (no memory at
    # all); a command that ended before a second reading was never seen at work, so its own
    # ru_maxrss is the only measure left: an upper bound (see Run).
    seen_running = sampler.readings > 1
    return Run(
        seconds=seconds,
        returncode=process.returncode,
        peak_rss_bytes=sampler.peak if seen_running else main_max_rss,
        peak_pss_bytes=sampler.peak_pss,
        main_max_rss_bytes=main_max_rss,
        peak_rss_source="samples" if seen_running else "ru_maxrss (upper bound)",
        cpu_seconds=rusage.ru_utime + rusage.ru_stime,
        system_seconds=rusage.ru_stime,
        stdout=(out[0] if out else b"").decode("utf-8", "replace"),
        stderr=(err[0] if err else b"").decode("utf-8", "replace"),
        settled=settled,
    )


def mb(size: float) -> float:
    return round(size / 1_000_000, 1)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation, as numpy's default."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ratio(ours: float | None, peer: float | None) -> float | None:
    if ours is None or peer is None or peer == 0:
        return None
    return round(ours / peer, 3)
