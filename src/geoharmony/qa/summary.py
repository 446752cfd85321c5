"""``geoharmony info``: a plain-text summary of a written dataset, with its findings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    lines += label_lines(m, idx)
    findings = review(plan, idx, m)
    lines.append(f"findings  {len(findings) or 'none'}")
    for f in findings:
        lines.append(f"  {f.severity:<8}{f.code}: {f.message.replace('`', '')}")
    return "\n".join(lines)


def label_lines(manifest: Mapping[str, Any], index: Any) -> list[str]:
    """Label QA as text: positive fractions per region and flow-direction health."""
    from geoharmony.labels.qa import (
        class_fractions_per_region,
        d8_region_problems,
        patches_without_positive,
        positive_fraction,
    )

    outputs = manifest.get("outputs", {})
    d8 = {n for n, o in outputs.items() if o.get("d8_encoding") or o.get("kind") == "d8"}
    out: list[str] = []
    for name, per in class_fractions_per_region(manifest, index).items():
        if name in d8 or not per:
            continue
        pos = [positive_fraction(f) for f in per.values()]
        empty = len(patches_without_positive(index, name))
        out.append(
            f"  {name:<12} positive {min(pos):.2%}..{max(pos):.2%} of valid pixels per "
            f"region; {empty} patch(es) without a positive pixel"
        )
    for name, d8per in d8_region_problems(manifest).items():
        und = sum(p["undefined"] for p in d8per.values())
        cyc = sum(p["cycle_cells"] for p in d8per.values())
        val = sum(p["valid"] for p in d8per.values()) or 1
        out.append(
            f"  {name:<12} flow directions: {und} undefined cell(s) ({und / val:.4%}), "
            f"{cyc} cell(s) on cycles, over {len(d8per)} region(s)"
        )
    return ["labels:", *out] if out else []
