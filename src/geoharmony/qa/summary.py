"""``geoharmony info``: a plain-text summary of a written dataset, with its findings."""

from __future__ import annotations

from pathlib import Path

from geoharmony.planning.windows import output_grid
from geoharmony.qa.checks import review
from geoharmony.qa.fmt import crs_short
from geoharmony.reading.dataset import open_dataset


def summary_text(path: str | Path) -> str:
    """The summary of a dataset, as ``geoharmony info`` prints it.

    Patches, regions, outputs (shape, dtype, resolution, CRS), splits, valid fractions,
    statistics and what :func:`~geoharmony.qa.checks.review` found.
    """
    ds = open_dataset(path)
    plan, m, idx = ds.plan, ds.manifest, ds.index
    g = plan.config.grid
    store = m.get("store", {})
    lines = [
        f"dataset   {ds.root}",
        f"patches   {plan.n_patches} in {len(plan.regions)} region(s); mode {plan.mode}, "
        f"reference {plan.reference}, patch {g.patch_size} px, "
        f"stride {g.stride} px, keep {g.keep}",
        f"store     {store.get('format')} ({store.get('path')}, {store.get('compression')})",
        "outputs:",
    ]
    for name, o in plan.outputs.items():
        shape = f"{o.bands}x{o.height}x{o.width}"
        desc = f"  {name:<12} {shape:<14} {o.dtype:<8}"
        if o.kind == "raster":
            grid = output_grid(plan, name)
            rx, ry = grid.resolution_m
            desc += f" {rx:.2f} x {ry:.2f} m  {grid.crs.to_string()}"
        else:
            desc += f" label ({o.kind}) on {o.grid_of}"
        col = f"{name}_valid_fraction"
        if col in idx:
            vf = idx[col]
            desc += f"  valid {vf.mean():.1%} (min {vf.min():.1%})"
        lines.append(desc)
    stats = m.get("stats", {})
    if stats:
        lines.append("stats     (valid pixels, all splits: mean ± std per band)")
        for name, per in stats.items():
            a = per.get("all")
            if not a:
                continue
            bands = [
                "n/a" if mu is None else f"{mu:.4g} ± {sd:.3g}"
                for mu, sd in zip(a["mean"], a["std"], strict=True)
            ]
            more = f" … ({len(bands)} bands)" if len(bands) > 4 else ""
            lines.append(f"  {name:<12} " + ", ".join(bands[:4]) + more)
    counts = plan.table["split"].value_counts().to_dict() if plan.n_patches else {}
    lines.append("splits    " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    per_region = plan.table["region"].value_counts() if plan.n_patches else None
    if per_region is not None and len(per_region) > 1:
        lines.append(
            f"regions   {len(per_region)}: {per_region.min()}..{per_region.max()} patches each"
        )
    crss = sorted({crs_short(i.grid.crs) for per in plan.sources.values() for i in per.values()})
    lines.append(f"CRSs      {', '.join(crss)}")
    findings = review(plan, idx, m)
    lines.append(f"findings  {len(findings) or 'none'}")
    for f in findings:
        lines.append(f"  {f.severity:<8}{f.code}: {f.message.replace('`', '')}")
    return "\n".join(lines)
