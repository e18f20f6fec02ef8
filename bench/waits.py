"""What a model host that cannot be reached costs the commands: each `sabio` command timed
with Ollama's address refused (nothing listens: the usual machine without Ollama, the
baseline), unresolvable (a host name, and a DNS server that never answers) and
unanswered (an address that takes no connection: its listen queue is full), side by side
in the same run, interleaved.

    python bench/waits.py                            # as root; 3 rounds
    python bench/waits.py --rounds 1 --src ../main/src   # another tree's code instead

It needs root: it runs itself again inside a network namespace that has only loopback,
whose /etc/resolv.conf points at a name server that reads every query and never answers
(tests/netns.py). A data directory with one document (embedded MiniLM) is made first.
The commands: ``search``, ``docs`` and ``add`` of an unchanged file (which never need the
model host), ``ask`` (``chat_model`` auto: it asks Ollama for a chat model, then answers
with the embedded one), ``models`` and ``doctor`` (which report on it). For each command
and host, the median wall time over the rounds and, for the unreachable hosts, what they
add to the baseline (target: at most 3 s); ``--src SRC`` runs the same with the code in
SRC instead (e.g. the main branch before bounded lookups), for comparison. Wall time is the
measure here (the commands wait, they do not compute), so the machine's load shows in
the baseline, not in the difference. Results are printed and written to ``--json``
(default bench/results/waits-*.json). See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from load import write_results

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import netns  # noqa: E402  (tests/netns.py, beside the tests that use it too)

INSIDE = "BENCH_WAITS_INSIDE_NAMESPACE"
UNRESOLVABLE = "http://models.example:11434"
COMMANDS = {
    "search": ["search", "lighthouse keeper"],
    "docs": ["docs"],
    "add (unchanged)": ["add", "{file}"],
    "ask": ["ask", "Who keeps the lighthouse log?"],
    "models": ["models"],
    "doctor": ["doctor"],
}
NOTE = "The lighthouse keeper writes every passing ship in the log after midnight.\n"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unanswered() -> tuple[int, list[socket.socket]]:
    """A port whose listen queue is full: a new connection is never answered."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    filler = socket.create_connection(server.getsockname())
    return int(server.getsockname()[1]), [server, filler]


def _run(src: Path, home: Path, host: str, args: list[str]) -> tuple[float, int, str]:
    env = {
        **{k: v for k, v in os.environ.items() if k != INSIDE},
        "PYTHONPATH": str(src),
        "SABIO_HOME": str(home),
        "OLLAMA_HOST": host,
        "SABIO_ANSWER_TOKENS": "16",
        "HOME": str(home.parent / "user-home"),
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "sabio", *args], env=env, capture_output=True, check=False
    )
    return time.monotonic() - started, done.returncode, done.stderr.decode(errors="replace")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="sabio-waits-"))
    note = work / "note.txt"
    note.write_text(NOTE)
    home = work / "data"
    (work / "user-home").mkdir()
    unanswered_port, keep = _unanswered()
    hosts = {
        "refused": f"127.0.0.1:{_closed_port()}",
        "unresolvable": UNRESOLVABLE,
        "unanswered": f"127.0.0.1:{unanswered_port}",
    }
    src = Path(args.src).resolve()
    trees = {str(src): src}
    seconds, code, error = _run(src, home, hosts["refused"], ["add", str(note)])
    assert code == 0, f"could not make the data directory: {error}"
    print(f"data directory made in {seconds:.1f} s")
    times: dict[str, dict[str, dict[str, list[float]]]] = {}
    codes: dict[str, int] = {}
    for round_ in range(args.rounds):
        for tree, src in trees.items():
            for command, template in COMMANDS.items():
                for host_name, host in hosts.items():
                    argv = [part.format(file=note) for part in template]
                    took, returncode, _ = _run(src, home, host, argv)
                    times.setdefault(tree, {}).setdefault(command, {}).setdefault(host_name, [])
                    times[tree][command][host_name].append(took)
                    codes[f"{tree} {command} {host_name}"] = returncode
        print(f"round {round_ + 1} of {args.rounds} done")
    for sock in keep:
        sock.close()
    return {"hosts": hosts, "rounds": args.rounds, "times": times, "returncodes": codes}


def report(results: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for tree, commands in results["times"].items():
        print(f"\n{tree}: median wall seconds ({results['rounds']} rounds)")
        print(
            f"{'command':<18}{'refused':>9}{'unresolvable':>14}{'+':>7}{'unanswered':>12}{'+':>7}"
        )
        for command, by_host in commands.items():
            medians = {host: statistics.median(t) for host, t in by_host.items()}
            base = medians["refused"]
            added = {host: medians[host] - base for host in ("unresolvable", "unanswered")}
            summary.setdefault(tree, {})[command] = {"median": medians, "added": added}
            print(
                f"{command:<18}{base:>9.2f}{medians['unresolvable']:>14.2f}"
                f"{added['unresolvable']:>+7.2f}{medians['unanswered']:>12.2f}"
                f"{added['unanswered']:>+7.2f}"
            )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--src", default=str(ROOT / "src"), help="Time the code in this folder.")
    parser.add_argument("--json", type=Path, help="Where to write the results.")
    args = parser.parse_args()
    if os.environ.get(INSIDE) != "1":
        if problem := netns.namespace_problem():
            sys.exit(f"bench/waits.py needs a network namespace: {problem}")
        command = netns.command(sys.executable, __file__, *sys.argv[1:], silent_dns=True)
        sys.exit(subprocess.run(command, env={**os.environ, INSIDE: "1"}, check=False).returncode)
    results = measure(args)
    results["summary"] = report(results)
    results["load_average"] = os.getloadavg()
    write_results(results, "waits", args.json)


if __name__ == "__main__":
    main()
