"""Benchmark zenml-devices against the zenml CLI on a real ZenML server (see bench/README.md).

    .venv/bin/python bench/run.py            # the full run (a few minutes), results into bench/README.md
    .venv/bin/python bench/run.py --quick    # a smoke run: fewer repetitions, README untouched
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # bench/ and tests/ are imported as packages

from bench import live, many  # noqa: E402
from bench.report import Results, failed, machine, machine_text, text_table, write_readme  # noqa: E402

SECTIONS = ("first", "idle", "help", "scale", "rss", "soak")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions; does not write bench/README.md")
    parser.add_argument("--only", metavar="LIST", help=f"comma-separated sections of: {', '.join(SECTIONS)}")
    parser.add_argument("--write", action=argparse.BooleanOptionalAction, default=None,
                        help="write the results into bench/README.md (default: only for a full run of everything)")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else set(SECTIONS)
    if only - set(SECTIONS):
        parser.error(f"unknown sections: {', '.join(sorted(only - set(SECTIONS)))}")
    q = args.quick
    reps = {
        "pairs": 3 if q else 10, "help": 5 if q else 10, "idle": 4.0 if q else 8.0,
        "scale_procs": 1 if q else 3, "scale_runs": 2 if q else 5, "rss": 1 if q else 3,
        "soak": 200 if q else 2000,
    }

    info = machine()
    log(machine_text(info))
    results = Results()
    started = time.monotonic()

    if only & {"first", "idle"}:
        log("real ZenML server: installing (first time only) and starting it, seeding devices, zenml login")
        with tempfile.TemporaryDirectory(prefix="zenml-devices-bench-") as tmp:
            try:
                with live.start(Path(tmp), log) as setup:
                    if "first" in only:
                        log(f"time to first table: zenml-devices and the zenml CLI, {reps['pairs']} pairs")
                        results.add(*live.first_table(setup, reps["pairs"], log))
                    if "idle" in only:
                        log("idle output with --refresh 1")
                        results.add(*live.idle_output(setup, reps["idle"]))
            except Exception as exc:  # noqa: BLE001 - the other sections still run
                log(f"  real server part failed: {exc}")
                results.add(failed("real server measurements", "", exc))
    if "help" in only:
        log("zenml-devices --help")
        results.add(live.help_time(reps["help"]))
    if "scale" in only:
        log(f"{many.MANY:,} devices in-process (demo server)")
        try:
            results.add(*many.scale(reps["scale_procs"], reps["scale_runs"], log))
        except Exception as exc:  # noqa: BLE001
            results.add(failed("many devices, in-process", "", exc))
    if "rss" in only:
        log(f"{many.MANY:,} devices in a pty (demo server over HTTP)")
        results.add(*many.peak_rss(reps["rss"], log))
    if "soak" in only:
        log(f"soak: {reps['soak']:,} refreshes")
        results.add(many.soak(reps["soak"], log))

    command = "make bench" if not (q or args.only) else "bench/run.py " + " ".join(sys.argv[1:])
    judged = [f for f in results.figures if f.target is not None]
    met = sum(f.status == "met" for f in judged)
    results.remarks.append(f"targets met: {met} of {len(judged)}; total benchmark time {time.monotonic() - started:.0f} s")
    print()
    print(machine_text(info))
    print()
    print(text_table(results.figures))
    for remark in results.remarks:
        print(f"- {remark}")
    write = args.write if args.write is not None else not (q or args.only)
    if write:
        write_readme(results.figures, info, command, results.remarks)
        log("results written to bench/README.md")
    return 0 if all(f.status != "n/a" for f in results.figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
