"""The short summary table printed at the end of a run."""

from __future__ import annotations

from rich.table import Table

from layertracer.methods.suite_summary import suite_line
from layertracer.results import Results


def summary_table(results: Results) -> Table:
    """Particle median/IQR, vulnerable layer with JS mean ± std, accuracy, fidelity."""
    model, L = results.model, results.model["num_layers"]
    table = Table(
        title=f"{model['spec']} ({model['model_type']}, L={L}) on {results.task.get('name')}"
    )
    table.add_column("measure")
    table.add_column("value")
    table.add_row("prompts", str(len(results.prompts)))
    table.add_row("accuracy (final top-1 = target)", f"{results.accuracy:.3f}")
    table.add_row("lens fidelity max |Δ log-prob|", f"{results.lens['fidelity_max_abs_err']:.2e}")
    if results.particles:
        p = results.particles
        median = "none" if p["median"] is None else f"{p['median']:g} (IQR {p['iqr']:g})"
        table.add_row(f"particle layer median (δ={p['delta']:g})", median)
        table.add_row("prompts without particle", f"{p['none_fraction']:.0%}")
    if results.vulnerability:
        v = results.vulnerability
        i = v["vulnerable_layer"]
        table.add_row(
            f"vulnerable layer (JS mean ± std, site {v.get('site', 'residual')})",
            f"{i}  ({v['js_mean'][i]:.3f} ± {v['js_std'][i]:.3f} over {len(v['seeds'])} seeds)",
        )
        stable = "yes" if v["stable"] else "[red]NO[/red]"
        table.add_row("stable across seeds", f"{stable} (agreement {v['seed_agreement']:.0%})")
        per_layer = v.get("massive_dims_per_layer")  # state site: elements of each state
        count = sum(map(len, per_layer.values())) if per_layer else len(v["massive_dims"])
        table.add_row("massive channels", f"{count} (protect: {v['protect_massive']})")
        table.add_row("scan path", f"{v['path']} (replay err {v['replay_max_abs_err']:.1e})")
    if ablation := results.extra.get("ablation"):
        i = ablation["critical_layer"]
        drop = ablation["target_logprob_drop"][i]
        table.add_row("ablation critical layer", f"{i}  (Δ log P(target) {drop:.2f} nats)")
    if tracing := results.extra.get("causal_tracing"):
        i = tracing["critical_layer"]
        effect = tracing["indirect_effect"][i]
        table.add_row("causal tracing critical layer", f"{i}  (indirect effect {effect:.3f})")
    for name, suite in (results.extra.get("suites") or {}).items():
        table.add_row(f"suite {name}", suite_line(suite))
    return table
