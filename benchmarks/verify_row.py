"""Row 7: a whole ``refactor verify`` on this machine against its wall-time budget, with the time split.

The copy of target_repo is migrated the way that passes on the installed stack (``apply --fit-stack
--keep-behaviour``), so the journal gives loss parity its "before"; on a machine without CUDA the
plan's ``tf32``/``bf16`` need ``--adapt``. The row's extra fields carry the report's time split
(imports, CUDA start, each variant's setup / W&B start / steps, parity), so a GPU run of
``scripts/gpu_smoke.sh`` and this row read alike.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from benchmarks.measure import Row, copy_target_repo, refactor_command

CPU_BUDGET_S = 60.0  # the budget for a 2-core CPU machine (30 s on one H100/H200)


def row_verify(work: Path, steps: int = 5) -> Row:
    copy = copy_target_repo(work / "verify")
    command = refactor_command()
    apply = [*command, "apply", str(copy), "--fit-stack", "--keep-behaviour", "--no-diff", "-q"]
    subprocess.run(apply, check=True, capture_output=True, text=True)
    report = work / "verify-report.json"
    verify = [*command, "verify", str(copy), "--adapt", "--steps", str(steps), "--report", str(report), "-q"]
    started = time.perf_counter()
    done = subprocess.run(verify, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    data = json.loads(report.read_text(encoding="utf-8")) if report.is_file() else {}
    extra = {
        "outcome": data.get("outcome"),
        "exit_status": done.returncode,
        "device": data.get("device_name"),
        "steps": steps,
        "split": data.get("timings"),
    }
    if done.returncode != 0:
        extra["problems"] = [f"verify exited {done.returncode}: {(done.stdout + done.stderr).strip()[-400:]}"]
    return Row("verify, whole (CLI)", wall, f"budget {CPU_BUDGET_S:g} s", CPU_BUDGET_S, wall / CPU_BUDGET_S, 1.0, extra)
