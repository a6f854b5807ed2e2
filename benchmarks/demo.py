"""The CPU demo: ``layertracer run`` with its defaults (SmolLM2-135M on ``capitals``, all
prompts, 3 seeds), timed end to end as a user runs it. One line; writes
``benchmarks/results/demo.json``.

    python benchmarks/demo.py [--extra "--max-prompts 32"]
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import write

from layertracer.results.timing import stage_seconds


def main() -> None:
    """Runs the demo in a subprocess, prints the wall time and the per-stage times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", default="", help="more options for `layertracer run`")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "layertracer", "run", "--out", out, "--no-report"]
        command += shlex.split(args.extra)
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        wall = time.perf_counter() - start
        results = json.loads((Path(out) / "results.json").read_text())
    row = {
        "case": f"smollm2-135m capitals {args.extra or 'defaults'}".strip(),
        "command": "layertracer run " + args.extra,
        "wall_s": round(wall, 1),
        "prompts": len(results["prompts"]),
        "stages_s": results["timing"],
        "device": results["environment"]["device"],
        "vulnerable_layer": results["vulnerability"]["vulnerable_layer"],
    }
    seconds = stage_seconds(row["stages_s"])
    stages = "  ".join(f"{k} {v:.1f}s" for k, v in seconds.items() if v >= 0.05)
    print(f"{row['case']}: {row['prompts']} prompts, wall {row['wall_s']:.1f}s  ({stages})")
    print(f"wrote {write('demo', {'cases': [row]})}")


if __name__ == "__main__":
    main()
