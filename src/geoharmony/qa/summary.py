"""``geoharmony info``: a plain-text summary of a written dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyproj import CRS

from geoharmony.geometry.transforms import crs_name
from geoharmony.planning.ownership import duplicates_line
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
    ]
    if p["mode"] == "resample":
        # what the arrays are on, apart from where they came from
        rid, rec = next(iter(m["inputs"]["modalities"][p["reference"]].items()))
        gx, gy = (
            p.get("ground_resolution_m", {}).get(rid, {}).get(p["reference"], rec["resolution_m"])
        )
        n = p["patch_size"]
        lines.append(
            f"warp grid every output on {p['reference']}'s grid: {_crs_label(rec)}, "
            f"{gx:.2f} x {gy:.2f} m pixels, {n} x {n} px = {n * gx:.0f} x {n * gy:.0f} m "
            "(source grids below)"
        )
    lines.append("outputs:")
    mods = m["inputs"]["modalities"]
    ground = p.get("ground_resolution_m", {})
    for name, o in m["outputs"].items():
        shape = "x".join(str(s) for s in o["shape"])
        desc = f"  {name:<12} {shape:<14} {o['dtype']:<8}"
        if name in mods:
            rid, rec = next(iter(mods[name].items()))
            # true ground metres at the (first) region's centroid
            rx, ry = ground.get(rid, {}).get(name, rec["resolution_m"])
            src = "warped from " if p["mode"] == "resample" and name != p["reference"] else ""
            desc += f" {src}{rx:.2f} x {ry:.2f} m  {_crs_label(rec)}"
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
    ok, dup = duplicates_line(idx)
    lines.append(f"lattice   {dup}" + ("" if ok else "  (INVALID: rerun extract)"))
    empty = p.get("regions_without_patches") or []
    if empty:
        more = " …" if len(empty) > 10 else ""
        lines.append(
            f"empty     {len(empty)} region(s) without patches: {', '.join(empty[:10])}{more}"
        )
    for note in p.get("notes", []):
        lines.append(note)
    per_region = idx["region"].value_counts()
    if len(per_region) > 1:
        lines.append(
            f"regions   {len(per_region)}: {per_region.min()}..{per_region.max()} patches each"
        )
    return "\n".join(lines)


def _crs_label(rec: dict[str, Any]) -> str:
    """``EPSG:XXXX`` or, for CRSs without a code, the CRS's name (never the WKT)."""
    wkt = rec.get("crs_wkt")
    if wkt:
        return crs_name(CRS.from_wkt(wkt))
    return str(rec.get("crs", "?"))
