"""A newcomer's first page (issue 13, target 7): a fresh clone, `make run`, until `/` answers.

    python -m bench.first_page                  # this checkout's HEAD, both setups
    python -m bench.first_page --rev 704da13    # another commit
    python -m bench.run --only first_page       # the same, in the table of `make bench`

Each setup clones this repository (a local clone: no network), runs its `make` targets in a
new process group with nothing of the caller's environment that would change them (no
`MAKEFLAGS`, `VIRTUAL_ENV`, `DATABASE_URL` or `IRONRIVER_*`), and polls `/` until it answers
200. Only pip reaches the network, as `make run` does: from the package index, or pip's cache
when it holds the wheels (`make bench` itself installed every extra first, so it does).
Whatever happens, the server's process group is ended and the clone removed.

The peer is the same clone, the same moment and pip cache, with `make venv run`: the dev,
bench and traces extras installed before the first page, which is what `make run` did before
it was split (f277812: one stamp installed everything a contributor needs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bench.api import free_port, wait_ready
from bench.load import BenchError

ROOT = Path(__file__).resolve().parent.parent
# Installed into every venv by `python3 -m venv` (ensurepip), needed by nothing that serves.
VENV_TOOLS = frozenset({"pip", "setuptools", "wheel"})
# The contributor's setup installs every extra with pip, with the warm cache ~75-100 s here.
TIMEOUT_SECONDS = 900.0


@dataclass(frozen=True)
class Setup:
    """One way a newcomer gets to the first page: the `make` targets run in a fresh clone."""

    name: str
    targets: tuple[str, ...]
    what: str

    @property
    def label(self) -> str:
        return "make " + " ".join(self.targets)


SERVE = Setup("serve", ("run",), "only what serving needs")
CONTRIBUTOR = Setup(
    "contributor",
    ("venv", "run"),
    "the dev, bench and traces extras first, as `make run` did before",
)


def newcomer_env() -> dict[str, str]:
    """This environment without what would make the clone's `make` differ from a newcomer's:
    an outer make's variables (`make bench VENV=...` passes them down in MAKEFLAGS), an active
    venv, and the app's settings (a newcomer's `make run` serves the clone's own data/)."""
    dropped = {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES", "VIRTUAL_ENV", "DATABASE_URL"}
    return {
        key: value
        for key, value in os.environ.items()
        if key not in dropped and not key.startswith("IRONRIVER_")
    }


def disk_usage(path: Path) -> int:
    """Bytes on disk under `path`, as `du` counts them (symlinks not followed, hard links once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, directories, files in os.walk(path):
        for name in (".", *directories, *files):
            status = os.lstat(os.path.join(folder, name))
            key = (status.st_dev, status.st_ino)
            if key not in seen:
                seen.add(key)
                total += status.st_blocks * 512
    return total


def installed_distributions(venv: Path) -> dict[str, metadata.Distribution]:
    """The distributions installed in `venv`, by canonical name."""
    paths = [str(path) for path in venv.glob("lib/python*/site-packages")]
    return {
        canonicalize_name(dist.metadata["Name"]): dist
        for dist in metadata.distributions(path=paths)
        if dist.metadata["Name"]
    }


def needed_to_serve(installed: dict[str, metadata.Distribution]) -> set[str]:
    """`ironriver` and what it requires without an extra, followed through the installed
    distributions' own requirements (with the extras each requirement asks for)."""
    needed: set[str] = set()
    pending: list[tuple[str, frozenset[str]]] = [("ironriver", frozenset())]
    expanded: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, extras = pending.pop()
        if (name, extras) in expanded or name not in installed:
            continue
        expanded.add((name, extras))
        needed.add(name)
        for text in installed[name].requires or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in {"", *extras}):
                pending.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return needed


def _group_alive(leader: int) -> bool:
    try:
        os.killpg(leader, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """End the process group `make` leads (make, its shell, the server): TERM, then KILL
    whatever is left after 20 s."""
    for sent in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sent)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + 20
        # make is reaped as it ends, so that its zombie does not keep the group alive.
        while process.poll() is None or _group_alive(process.pid):
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        else:
            break
    process.wait()


def measure(
    setup: Setup,
    *,
    rev: str,
    repo: Path = ROOT,
    work: Path | None = None,
    make_overrides: tuple[str, ...] = (),
    timeout: float = TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Clone `repo` at `rev`, run the setup's targets, time until `/` answers; the venv's size
    and packages. Raises RuntimeError (with the end of make's output) if `/` never answers."""
    folder = Path(tempfile.mkdtemp(prefix=f"first-page-{setup.name}-", dir=work))
    clone = folder / "ironriver"
    make_log = folder / "make.log"
    process: subprocess.Popen[bytes] | None = None
    try:
        started = time.monotonic()
        subprocess.run(["git", "clone", "-q", "--no-checkout", str(repo), str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "-q", rev], check=True)
        cloned = time.monotonic()
        port = free_port()
        command = ["make", *setup.targets, f"PORT={port}", *make_overrides]
        with make_log.open("wb") as log:
            process = subprocess.Popen(
                command,
                cwd=clone,
                env=newcomer_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_ready(url, process, timeout=max(0.0, started + timeout - time.monotonic()))
        except BenchError as error:
            tail = make_log.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(
                f"{setup.label}: {url} did not answer 200 ({error}); make's output ends:\n{tail}"
            ) from None
        answered = time.monotonic()
        _stop_group(process)
        venv = clone / ".venv"
        installed = installed_distributions(venv)
        extra = sorted(set(installed) - needed_to_serve(installed) - VENV_TOOLS)
        return {
            "setup": setup.name,
            "label": setup.label,
            "what": setup.what,
            "command": " ".join(command),
            "seconds": round(answered - started, 2),
            "clone_seconds": round(cloned - started, 2),
            "make_seconds": round(answered - cloned, 2),
            "venv_bytes": disk_usage(venv),
            "packages": len(installed),
            "not_needed_to_serve": extra,
        }
    finally:
        if process is not None:
            _stop_group(process)
        shutil.rmtree(folder, ignore_errors=True)


def head_commit(repo: Path = ROOT) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def measure_both(
    *,
    rev: str | None = None,
    work: Path | None = None,
    quick: bool = False,
    log: Any = print,
) -> dict[str, Any]:
    """Ours (`make run`) then the peer (`make venv run`) on fresh clones of `rev` (HEAD).

    `quick` keeps every step of ours but pip's: `PIP=:` makes each install a no-op and `BIN=`
    points the recipes at this interpreter's venv, so the clone, the venv stamp, the database,
    the server, the polling, the measuring and the clean-up run in seconds (the numbers then
    say nothing about installing); the peer, the same steps with other targets, is left out."""
    rev = rev or head_commit()
    overrides = (f"BIN={Path(sys.executable).parent}", "PIP=:") if quick else ()
    out: dict[str, Any] = {
        "rev": rev,
        "quick": quick,
        "pip": "replaced by a no-op (quick)" if quick else "pip's cache as make venv left it",
        "setups": {},
    }
    for setup in (SERVE,) if quick else (SERVE, CONTRIBUTOR):
        log(f"first page: fresh clone at {rev[:10]}, {setup.label} ({setup.what})")
        measured = measure(setup, rev=rev, work=work, make_overrides=overrides)
        log(
            f"  {measured['seconds']:.1f} s to the first page (clone {measured['clone_seconds']:.1f}"
            f" s), venv {measured['venv_bytes'] / 1e6:.0f} MB, {measured['packages']} packages"
        )
        out["setups"][setup.name] = measured
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.first_page", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rev", help="commit to clone (default: this checkout's HEAD)")
    parser.add_argument("--quick", action="store_true", help="no pip installs: the harness only")
    args = parser.parse_args(argv)
    print(json.dumps(measure_both(rev=args.rev, quick=args.quick), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
