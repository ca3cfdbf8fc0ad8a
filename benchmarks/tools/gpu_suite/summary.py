"""The suite's ``summary.md``: one row per part (ok / failed / skipped), then each part's
tables.

``python -m benchmarks.tools.gpu_suite.summary OUT_DIR``

``gpu_suite.sh`` leaves one status file per part in ``OUT_DIR/status/`` (``key=value``
lines: state, reason, seconds, exit status, and for a part skipped for want of CUDA the
result of its CPU dry run) and the part's log beside it. A failed part's row quotes the
last line of its log, so the summary alone says what broke; a part with no status file did
not run at all (the suite was killed) and counts as failed. Exits 1 when any part failed.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from benchmarks.tools.gpu_suite import records

PARTS = {
    "1-install": "install carried wheels; graphspec importable",
    "2-gpu-tests": "pytest -m gpu",
    "3-crosscheck": "box/NMS/RoI ops against torchvision.ops",
    "4-tests": "default test suite (CUDA hidden)",
    "5-spec-timing": "spec timings: fp32, bf16+cl, compiled",
    "6-tv-timing": "torchvision VGG16 / SSD300, graphspec / torchvision",
    "7-unpool": "summing unpool against F.max_unpool2d",
    "8-bench": "graphspec bench --device cuda --compile",
}
FRAGMENTS = ("env.md", "crosscheck.md", "spec_timing.md", "tv_timing.md", "unpool.md")
BENCH_COLUMNS = ("spec", "status", "error", "train_s", "latency_ms", "throughput_ips")
BENCH_COLUMNS += ("peak_mem_mb", "miou", "map", "compile", "device")


def read_status(path: Path) -> dict[str, str]:
    """The ``key=value`` lines of a status file."""
    pairs = (line.partition("=") for line in path.read_text().splitlines())
    return {key: value for key, _, value in pairs if key}


def last_line(log: Path) -> str:
    """The log's last non-empty line (what a failure usually ends with)."""
    if not log.is_file():
        return "no log"
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    return next((line for line in reversed(lines) if line), "empty log")[:240]


def verdict(status: dict[str, str], log: Path) -> tuple[str, bool]:
    """The status cell of a part and whether it counts as a failure."""
    state, reason, rc = status.get("state"), status.get("reason", ""), status.get("rc", "")
    note = f" ({status['note']})" if status.get("note") else ""
    if state == "ok":
        return "ok" + note, False
    if state == "skipped":
        dry = status.get("dry", "")
        if not dry:
            return f"skipped: {reason}", False
        if dry == "ok":
            return f"skipped: {reason}; CPU dry run ok", False
        return f"skipped: {reason}; CPU dry run failed ({dry}): {last_line(log)}", True
    if state == "timeout":
        return f"failed (timed out after {status.get('cap', '?')} s): {last_line(log)}", True
    return f"failed (exit {rc}): {last_line(log)}", True


def part_rows(out: Path) -> tuple[list[dict[str, str]], int]:
    """The table's rows and how many parts failed."""
    rows, failures = [], 0
    for name, title in PARTS.items():
        path, log = out / "status" / name, out / f"{name}.log"
        status = read_status(path) if path.is_file() else {}
        cell, failed = verdict(status, log) if status else ("failed: did not run", True)
        failures += failed
        number, _, _ = name.partition("-")
        rows.append(
            {
                "part": number,
                "what": title,
                "status": cell,
                "s": status.get("seconds"),
                "log": log.name,
            }
        )
    return rows, failures


def bench_fragment(out: Path) -> str:
    """Part 8's results rows (``bench/results.csv``), the columns that say how it went."""
    table_path = out / "bench" / "results.csv"
    if not table_path.is_file():
        return ""
    with table_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = [(c, c) for c in BENCH_COLUMNS if rows and c in rows[0]]
    return "## graphspec bench (part 8)\n\n" + records.table(rows, columns)


def header(out: Path) -> str:
    """Where it ran: the machine facts part 1 recorded."""
    env_path = out / "env.json"
    env = json.loads(env_path.read_text()) if env_path.is_file() else {}
    keys = ("device", "torch", "cuda", "python", "cuda_available")
    facts = ", ".join(f"{key} {env[key]}" for key in keys if key in env)
    return "# GPU suite summary\n\n" + (facts or "no environment recorded (part 1 did not finish)")


def write_summary(out: Path) -> int:
    """Write ``out/summary.md``; return the number of failed parts."""
    rows, failures = part_rows(out)
    columns = [("part", "#"), ("what", "part"), ("status", "status"), ("s", "s"), ("log", "log")]
    sections = [header(out), records.table(rows, columns)]
    sections += [(out / f).read_text() for f in FRAGMENTS if (out / f).is_file()]
    sections.append(bench_fragment(out))
    (out / "summary.md").write_text("\n\n".join(s.rstrip() for s in sections if s) + "\n")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    failures = write_summary(args.out)
    print((args.out / "summary.md").read_text())
    print(f"{failures} part(s) failed" if failures else "no part failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
