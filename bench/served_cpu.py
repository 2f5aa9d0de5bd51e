"""CPU per granted read through `governance serve`, server and clients apart: the served
figure that a loaded machine does not spoil as much as reads per second.

The HTTP bench's world and clients (bench/http_bench.py), one server, ROUNDS alternating
drives of DURATION_S; for each, the CPU time (user + system, from /proc) the server's
processes and the bench's client processes spent per read answered (on PostgreSQL also the
server processes of the world's database, the backends the workers' pools hold), and the
latencies' median and 99th percentile. With `--spy SECONDS` it also records the workers with
py-spy (`PY_SPY`, default `py-spy` on the PATH) for that long during a drive and prints the
heaviest frames.

    .venv/bin/python bench/served_cpu.py [--postgres] [--workers N] [--threads N] [--worker-class C]
        [--seconds S] [--rounds N] [--spy S]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """`pid` and its children (the arbiter and its workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(int(c) for c in children)]


def _cpu(pids: list[int]) -> tuple[float, float]:
    """User and system CPU seconds of `pids`: system time is the sockets' and the files'
    share (accepting, closing, fsync), user time the interpreter's."""
    user = system = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        user += int(fields[11])
        system += int(fields[12])
    return user / TICK, system / TICK


def _backends(url: str) -> list[int]:
    """The PostgreSQL server processes serving the world's database (the workers' pooled
    connections): their CPU is the database's share of a read, on the same cores."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(pid) for (pid,) in rows]


def _clients_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _spy(pids: list[int], seconds: float, out: Path, spy: str) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [
                spy,
                "record",
                "-r",
                "250",
                "-d",
                str(int(seconds)),
                "-f",
                "raw",
                "-p",
                str(pid),
                "-o",
                str(out / f"{pid}.txt"),
                "--nonblocking",
                "--threads",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]


def _report_spy(out: Path, top: int = 45) -> None:
    """Self and inclusive sample shares of the functions the workers were in."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for file in out.glob("*.txt"):
        for line in file.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack:
                continue
            n = int(count)
            frames = [f for f in stack.split(";") if not f.startswith(("thread ", "process "))]
            if not frames:
                continue
            total += n
            own[frames[-1]] += n
            for frame in set(frames):
                inclusive[frame] += n
    print(f"py-spy: {total} samples")
    print("inclusive:")
    for frame, n in inclusive.most_common(top):
        print(f"  {100 * n / total:5.1f} %  {frame}")
    print("own:")
    for frame, n in own.most_common(top):
        print(f"  {100 * n / total:5.1f} %  {frame}")


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--worker-class", default=None, help="gthread or sync (default: serve's)")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--spy", type=float, default=0)
    parser.add_argument("--spy-dir", type=Path, default=None, help="keep py-spy's raw files")
    args = parser.parse_args()
    from bench.http_bench import _drive, _world, postgres_url
    from tests.live import LiveServer

    with tempfile.TemporaryDirectory(prefix="served-cpu-") as name:
        tmp = Path(name)
        spied = args.spy_dir or tmp / "spy"
        url, instance, path, secrets = _world(tmp, postgres_url() if args.postgres else None)
        server = LiveServer(
            url,
            instance,
            tmp / "server.log",
            workers=args.workers,
            threads=args.threads or None,
            worker_class=args.worker_class,
            start_within=180,
        )
        try:
            _drive(server.port, path, secrets, 2.0, len(secrets))  # warm every worker
            pids = _tree(server.process.pid)
            backends = _backends(url) if args.postgres else []
            for round_ in range(args.rounds):
                spies = []
                if args.spy and round_ == args.rounds - 1:
                    spied.mkdir(parents=True, exist_ok=True)
                    spies = _spy(pids[1:], args.spy, spied, os.environ.get("PY_SPY", "py-spy"))
                server_before, clients_before = _cpu(pids), _clients_cpu()
                backend_before = sum(_cpu(backends))
                load = os.getloadavg()[0]
                count, rate, p99, failures = _drive(
                    server.port, path, secrets, args.seconds, len(secrets)
                )
                user, system = (a - b for a, b in zip(_cpu(pids), server_before, strict=True))
                clients_cpu = _clients_cpu() - clients_before
                backend = sum(_cpu(backends)) - backend_before
                database = (
                    f", database {1000 * backend / count:.2f} ms ({len(backends)} backends)"
                    if backends
                    else ""
                )
                print(
                    f"{count} reads, {rate:.0f}/s, p99 {p99:.1f} ms, {len(failures)} failed; "
                    f"CPU per read: server {1000 * (user + system) / count:.2f} ms "
                    f"(user {1000 * user / count:.2f}, system {1000 * system / count:.2f}), "
                    f"clients {1000 * clients_cpu / count:.2f} ms{database} (load {load:.1f})",
                    flush=True,
                )
                for spy in spies:
                    spy.wait()
            if args.spy:
                _report_spy(spied)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
