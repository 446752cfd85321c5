"""``geoharmony info``: a plain-text summary of a written dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from geoharmony.reading.augment import d8_encodings
from geoharmony.reading.dataset import open_dataset


def summary_text(path: str | Path) -> str:
    """Patches, regions, modalities (shape, dtype, resolution, CRS), splits and valid fractions."""
    ds = open_dataset(path)
    m = ds.manifest
    idx = ds.index
    p = m["plan"]
    lines = [
        f"dataset   {ds.root}",
        f"patches   {len(ds)} in {idx['region'].nunique()} region(s); mode {p['mode']}, "
        f"reference {p['reference']}, patch {p['patch_size']} px, "
        f"stride {p['stride']} px, keep {p['keep']}",
        f"store     {m['store']['format']} ({m['store']['path']}, {m['store']['compression']})",
        "outputs:",
    ]
    mods = m["inputs"]["modalities"]
    for name, o in m["outputs"].items():
        shape = "x".join(str(s) for s in o["shape"])
        desc = f"  {name:<12} {shape:<14} {o['dtype']:<8}"
        if name in mods:
            rec = next(iter(mods[name].values()))
            rx, ry = rec["resolution_m"]
            desc += f" {rx:.2f} x {ry:.2f} m  {rec['crs']}"
        else:
            desc += f" label ({o['kind']}) on {o['grid_of']}"
        vf = idx[f"{name}_valid_fraction"]
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
    counts = idx["split"].value_counts().to_dict()
    lines.append("splits    " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    per_region = idx["region"].value_counts()
    if len(per_region) > 1:
        lines.append(
            f"regions   {len(per_region)}: {per_region.min()}..{per_region.max()} patches each"
        )
    lines += label_qa_lines(m, idx)
    return "\n".join(lines)


def label_qa_lines(manifest: dict[str, Any], index: Any) -> list[str]:
    """Label QA as text: positive fractions per region, empty patches, D8 problems."""
    from geoharmony.labels.qa import (
        class_fractions_per_region,
        d8_region_problems,
        implausible_regions,
        patches_without_positive,
        positive_fraction,
    )

    out: list[str] = []
    fractions = class_fractions_per_region(manifest, index)
    d8 = set(d8_encodings(manifest))
    for name, per in fractions.items():
        if name in d8 or not per:
            continue
        pos = [positive_fraction(f) for f in per.values()]
        empty = len(patches_without_positive(index, name))
        out.append(
            f"  {name:<12} positive {min(pos):.2%}..{max(pos):.2%} of valid pixels per region; "
            f"{empty} patch(es) without a positive pixel"
        )
    for row in implausible_regions(fractions, skip=tuple(d8)):
        out.append(
            f"  WARNING {row['label']}: region {row['region']} is "
            f"{row['positive_fraction']:.0%} positive (implausible over 50 %)"
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
