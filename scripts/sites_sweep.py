"""Every must-pass type × every vulnerability site it offers: the scan path, replay vs
hooked full passes (max |Δ JS|), the replay / cache-step error, and finiteness.

    OMP_NUM_THREADS=1 python scripts/sites_sweep.py [--types llama,mamba]

One line per (type, site); the state site has no full-pass twin (its path is the cache
step, checked against the model's own full forward).
"""

from __future__ import annotations

import argparse

import numpy as np

from layertracer import RunConfig, VulnerabilityConfig, trace
from layertracer.config import SITES
from layertracer.errors import LayerTracerError
from layertracer.model.anatomy import discover
from layertracer.model.sites import block_sites
from layertracer.model.tiny import MUST_PASS
from layertracer.model.tiny import checking_model as tiny
from layertracer.tasks import load_task


def scan(lm: object, task: object, site: str, replay: bool) -> tuple[np.ndarray, str, float] | str:
    """JS ``[S, L+1]`` (NaN where absent), the path and its error; or the error line."""
    vcfg = VulnerabilityConfig(seeds=(0, 1), site=site, replay=replay)
    cfg = RunConfig(batch_size=2, methods=("lens", "vulnerability"), vulnerability=vcfg)
    try:
        v = trace(lm, task, cfg).vulnerability
    except LayerTracerError as exc:
        return str(exc).splitlines()[0]
    js = np.array([[np.nan if x is None else x for x in row] for row in v["js"]], dtype=float)
    return js, v["path"], v["replay_max_abs_err"]


def main() -> None:
    """Prints one line per (type, site)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--types", default=",".join(MUST_PASS))
    task = load_task("capitals", 4)
    for model_type in parser.parse_args().types.split(","):
        lm = tiny(model_type)
        anatomy = discover(lm.model, lm.tokenizer)
        offered = {s for sites in block_sites(lm.model, anatomy, lm.tokenizer) for s in sites}
        for site in [s for s in SITES if s in offered]:
            first = scan(lm, task, site, replay=True)
            if isinstance(first, str):
                print(f"{model_type:16s} {site:9s} refused: {first}", flush=True)
                continue
            js, path, err = first
            diff = "-"
            if site != "state":
                full = scan(lm, task, site, replay=False)
                diff = (
                    f"{np.nanmax(np.abs(js - full[0])):.1e}" if not isinstance(full, str) else full
                )
            has = np.isfinite(js[0])
            line = f"{model_type:16s} {site:9s} {path:10s} layers {int(has.sum())}/{js.shape[1]}"
            finite = bool(np.isfinite(js[:, has]).all())
            print(f"{line}  |ΔJS| vs full {diff}  err {err:.1e}  finite {finite}", flush=True)


if __name__ == "__main__":
    main()
