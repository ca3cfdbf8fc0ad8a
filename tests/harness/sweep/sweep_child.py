"""Child process for the kill/resume tests in test_runner.py.

Usage: python sweep_child.py RUN_DIR SPECS_DIR LOG_FILE SLEEP_S

Runs 3 specs x 2 seeds = 6 fake jobs. Each run_one appends ``name seed`` to LOG_FILE (so the
test can count calls), sleeps SLEEP_S (so the test can kill it mid-sweep) and returns a row
whose ``params`` the test can recompute from the job. Exits with the summary's exit code.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from benchmarks.store.jobs import Job
from benchmarks.store.row import ResultRow
from benchmarks.sweep.plan import plan_jobs  # noqa: E402
from benchmarks.sweep.runner import run_sweep  # noqa: E402

SPEC_NAMES = ("alpha", "beta", "gamma")
SEEDS = (0, 1)


def expected_params(name: str, seed: int) -> int:
    """The value run_one reports, recomputed independently by the test."""
    return 1000 * (SPEC_NAMES.index(name) + 1) + seed


def main() -> int:
    run_dir, specs_dir, log_file = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    sleep_s = float(sys.argv[4])
    specs_dir.mkdir(parents=True, exist_ok=True)
    spec_files = []
    for name in SPEC_NAMES:
        path = specs_dir / f"{name}.yaml"
        if not path.exists():
            path.write_text(f"name: {name}\nlayers: []\n", encoding="utf-8")
        spec_files.append(path)
    jobs = plan_jobs(spec_files, [{"epochs": 1, "seed": seed} for seed in SEEDS])

    def run_one(job: Job, job_dir: Path) -> dict[str, object]:
        with log_file.open("a", encoding="utf-8") as log:
            log.write(f"{job.name} {job.settings['seed']}\n")
        time.sleep(sleep_s)
        (job_dir / "config.json").write_text("{}", encoding="utf-8")
        return ResultRow(params=expected_params(job.name, job.settings["seed"]), latency_ms=1.25)

    return run_sweep(jobs, run_dir, run_one).exit_code


if __name__ == "__main__":
    sys.exit(main())
