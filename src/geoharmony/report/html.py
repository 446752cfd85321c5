"""``geoharmony report``: one self-contained HTML file a reviewer can read without code.

It says what went in (inputs table), what came out (outputs, patches per region and
split), where the patches are (study area, centres, patch grids), how each modality's
footprint relates to the others (footprints and patch figures for a few sampled
patches), and what to worry about (warnings computed from the manifest and index).
Images are embedded as base64 PNGs; the page needs nothing else.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from pyproj import CRS

from geoharmony.planning.ownership import duplicates_line
from geoharmony.viz.source import Source, fmt_m, load_source

#: The warning every native-mode dataset with differing footprints must show.
NATIVE_MESSAGE = (
    "modalities have different footprints: pixel (i, j) is not the same ground location "
    "across modalities; use `footprint` or `resample` for pixel-wise fusion"
)


MODE_TEXT = {
    "native": (
        "Native mode: every modality is cut as a patch of the same number of pixels at its own "
        "resolution, all centred on the same ground point, so coarser modalities cover more "
        "ground (see the footprint figures)."
    ),
    "footprint": (
        "Footprint mode: every modality covers the reference patch's ground footprint at its "
        "own resolution, so coarser modalities have fewer pixels per patch."
    ),
    "resample": (
        "Resample mode: every modality was warped onto the reference patch grid, so pixel "
        "(i, j) is the same ground location in every modality."
    ),
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One item of "what to worry about": ``level`` is ``"warning"`` or ``"note"``."""

    level: str
    text: str


# -- findings ------------------------------------------------------------------------
def review(src: Source) -> list[Finding]:
    """What a reviewer must see about a dataset (or a plan), most important first."""
    from geoharmony.viz.footprints import corners, patch_crs, rotation_deg

    out: list[Finding] = []
    idx = src.index
    rid = src.regions[0].id
    mods = src.modalities
    if len(idx) == 0:
        return [
            Finding("warning", "the dataset has no patches: nothing lies inside the study area")
        ]
    # footprints: does pixel (i, j) mean the same ground in every modality?
    k = 0
    crs = patch_crs(src, k)
    ref_c = corners(src, src.reference, k, crs)
    ref_res = max(src.resolution_m(src.reference, rid))
    sizes = ", ".join(
        f"{m} {fmt_m(src.outputs[m].width * src.resolution_m(m, rid)[0])}" for m in mods
    )
    mismatch = {}
    for m in mods:
        c = corners(src, m, k, crs)
        dist = float(np.max(np.hypot(*(c - ref_c).T)))
        if dist > 0.5 * max(ref_res, max(src.resolution_m(m, rid))):
            mismatch[m] = (dist, rotation_deg(c) - rotation_deg(ref_c))
    if mismatch and src.mode == "native":
        out.append(Finding("warning", f"{NATIVE_MESSAGE} (patch side: {sizes})."))
    elif mismatch:
        parts = [
            f"{m}: corners up to {fmt_m(d)} apart, rotated {rot:+.2f}°"
            for m, (d, rot) in mismatch.items()
        ]
        out.append(
            Finding(
                "warning",
                f"in {src.mode} mode the footprints still differ from the reference "
                f"'{src.reference}' ({'; '.join(parts)}): pixel (i, j) is not the same ground "
                "location across modalities; use `resample` for pixel-wise fusion.",
            )
        )
    # data validity
    for name in src.outputs:
        col = f"{name}_valid_fraction"
        if col not in idx:
            continue
        v = idx[col].to_numpy(float)
        none, low = int((v <= 0).sum()), int((v < 0.5).sum())
        if low:
            out.append(
                Finding(
                    "warning",
                    f"{name}: {low} of {len(v)} patches have less than 50 % valid pixels"
                    + (f" ({none} have none)" if none else "")
                    + "; filter on the index's "
                    f"{col} column or use the masks in training.",
                )
            )
    # alignment bound (should never trip: a broken invariant if it does)
    for m in mods:
        col = f"{m}_offset_m"
        if col in idx and len(idx):
            rx, ry = src.resolution_m(m, rid)
            worst = float(idx[col].max())
            if worst > 0.5 * math.hypot(rx, ry) * 1.001 + 1e-6:
                out.append(
                    Finding(
                        "warning",
                        f"{m}: an alignment offset of {worst:.2f} m exceeds half a pixel "
                        f"({0.5 * math.hypot(rx, ry):.2f} m); the dataset is not aligned as "
                        "promised.",
                    )
                )
    # one owner per lattice point, and the leakage guard
    if len(idx):
        ok, line = duplicates_line(idx)
        out.append(Finding("note" if ok else "warning", line + "."))
    for line in src.manifest.get("plan", {}).get("notes", []):
        out.append(Finding("note", str(line)))
    if "split" in idx:
        present = set(idx["split"].astype(str))
        missing = [s for s in ("train", "val", "test") if s not in present]
        if "unassigned" in present:
            n = int((idx["split"] == "unassigned").sum())
            out.append(
                Finding(
                    "warning", f"{n} patches are in regions not listed in any split ('unassigned')."
                )
            )
        if missing and len(present) > 0:
            out.append(
                Finding(
                    "note",
                    f"no patches in split(s) {', '.join(missing)}; "
                    f"present: {', '.join(sorted(present))}.",
                )
            )
    # inputs: nodata, CRSs, geographic pixels, files changed
    crss: dict[str, list[str]] = {}
    for m in mods:
        inp = src.inputs[rid][m]
        crss.setdefault(_crs_short(inp.grid.crs), []).append(m)
        if inp.nodata is None:
            out.append(
                Finding(
                    "warning",
                    f"{m} declares no nodata value: only pixels outside the raster are masked; "
                    "fill values inside it (e.g. 0) count as valid. Set [modalities."
                    f"{m}].nodata if it has one.",
                )
            )
        if inp.grid.is_geographic:
            rx, ry = inp.grid.resolution_m
            out.append(
                Finding(
                    "note",
                    f"{m} is in a geographic CRS ({_crs_short(inp.grid.crs)}): its pixels are "
                    f"{rx:.3g} \u00d7 {ry:.3g} m at the raster's centre and change with latitude.",
                )
            )
    if len(crss) > 1:
        groups = "; ".join(f"{c}: {', '.join(ms)}" for c, ms in crss.items())
        out.append(
            Finding(
                "note",
                f"inputs come in {len(crss)} CRSs ({groups}); each window was chosen on its "
                "raster's own grid after transforming the patch centre (nothing was reprojected "
                "in native/footprint mode), so footprints of other CRSs are rotated.",
            )
        )
    if src.mode == "resample":
        out.append(
            Finding(
                "note",
                f"resample mode: every modality was warped onto the '{src.reference}' patch grid; "
                "continuous data are interpolated (bilinear unless configured), categorical ones "
                "use nearest neighbour.",
            )
        )
    for per in src.inputs.values():
        for m, inp in per.items():
            if not inp.path.exists():
                out.append(Finding("warning", f"{m}: input {inp.path} no longer exists."))
            elif inp.size is not None and inp.path.stat().st_size != inp.size:
                out.append(
                    Finding("warning", f"{m}: input {inp.path} changed size since extraction.")
                )
        if len(src.inputs) > 20:
            break
    order = {"warning": 0, "note": 1}
    return sorted(out, key=lambda f: order.get(f.level, 2))


def _crs_short(crs: CRS) -> str:
    code = crs.to_epsg()
    return f"EPSG:{code}" if code else (crs.name or "custom CRS")


# -- tables ------------------------------------------------------------------------
def inputs_table(src: Source, *, max_rows: int = 60) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the inputs table (one row per distinct input file)."""
    header = [
        "modality",
        "file",
        "CRS",
        "pixel size (m)",
        "size (px)",
        "file size",
        "dtype",
        "nodata",
        "bands",
    ]
    multi = len({str(i.path) for per in src.inputs.values() for i in per.values()}) > len(
        src.modalities
    )
    if multi:
        header.insert(1, "region")
    rows = []
    seen: set[str] = set()
    for rid, per in src.inputs.items():
        for m in src.modalities:
            inp = per[m]
            if str(inp.path) in seen:
                continue
            seen.add(str(inp.path))
            rx, ry = inp.grid.resolution_m
            res = f"{rx:.2f} \u00d7 {ry:.2f}" if abs(rx - ry) > 0.005 * rx else f"{rx:.2f}"
            crs = inp.grid.crs
            bands = ", ".join(str(b) for b in inp.bands)
            if len(inp.bands) != inp.count:
                bands += f" of {inp.count}"
            row = [
                m,
                inp.path.name,
                f"{_crs_short(crs)} ({crs.name})",
                res,
                f"{inp.grid.width} \u00d7 {inp.grid.height}",
                _bytes(inp.size),
                inp.dtype,
                "none" if inp.nodata is None else f"{inp.nodata:g}",
                bands,
            ]
            if multi:
                row.insert(1, rid)
            rows.append(row)
    if len(rows) > max_rows:
        more = len(rows) - max_rows
        rows = [*rows[:max_rows], [f"... {more} more files", *([""] * (len(header) - 1))]]
    return header, rows


def outputs_table(src: Source) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the outputs table (modalities and labels)."""
    header = [
        "output",
        "kind",
        "array per patch",
        "dtype",
        "pixel grid",
        "ground size",
        "valid mean",
        "valid min",
        "patches < 50 % valid",
    ]
    rows = []
    rid = src.regions[0].id
    for n, o in src.outputs.items():
        rx, ry = src.resolution_m(n, rid)
        col = f"{n}_valid_fraction"
        v = src.index[col].to_numpy(float) if col in src.index else None
        kind = (
            "raster"
            if o.kind == "raster"
            else ("label: vector burn" if o.kind == "vector" else "label: D8")
        )
        grid = o.grid_of if src.mode != "resample" else src.reference
        rows.append(
            [
                n,
                kind,
                f"{o.bands} \u00d7 {o.height} \u00d7 {o.width}",
                o.dtype,
                f"{grid} ({rx:.3g} m)",
                f"{fmt_m(o.width * rx)} \u00d7 {fmt_m(o.height * ry)}",
                "-" if v is None else f"{v.mean():.1%}",
                "-" if v is None else f"{v.min():.1%}",
                "-" if v is None else str(int((v < 0.5).sum())),
            ]
        )
    return header, rows


def splits_table(src: Source, *, max_regions: int = 30) -> tuple[list[str], list[list[str]]]:
    """Patches per region (rows) and split (columns), with totals."""
    idx = src.index
    splits = [
        s for s in ("train", "val", "test", "unassigned") if s in set(idx["split"].astype(str))
    ]
    splits += sorted(set(idx["split"].astype(str)) - set(splits))
    ct = idx.groupby(["region", "split"]).size().unstack(fill_value=0)
    header = ["region", *splits, "total"]
    rows = []
    regions = list(ct.index)
    for rid in regions[:max_regions]:
        counts = [int(ct.loc[rid].get(s, 0)) for s in splits]
        rows.append([str(rid), *map(str, counts), str(sum(counts))])
    if len(regions) > max_regions:
        rest = ct.loc[regions[max_regions:]]
        counts = [int(rest[s].sum()) if s in rest else 0 for s in splits]
        rows.append(
            [f"{len(regions) - max_regions} more regions", *map(str, counts), str(sum(counts))]
        )
    tot = [int((idx["split"].astype(str) == s).sum()) for s in splits]
    rows.append(["total", *map(str, tot), str(len(idx))])
    return header, rows


def offsets_table(src: Source) -> tuple[list[str], list[list[str]]]:
    """Alignment offsets per modality against the half-pixel bound."""
    header = [
        "modality",
        "max offset (m)",
        "mean offset (m)",
        "½-pixel bound (m)",
        "max |dcol| (px)",
        "max |drow| (px)",
    ]
    rows = []
    rid = src.regions[0].id
    for m in src.modalities:
        idx = src.index
        rx, ry = src.resolution_m(m, rid)
        off = idx[f"{m}_offset_m"].to_numpy(float) if f"{m}_offset_m" in idx else np.zeros(len(idx))
        dc = np.abs(idx[f"{m}_dcol"].to_numpy(float)) if f"{m}_dcol" in idx else np.zeros(len(idx))
        dr = np.abs(idx[f"{m}_drow"].to_numpy(float)) if f"{m}_drow" in idx else np.zeros(len(idx))
        rows.append(
            [
                m,
                f"{off.max(initial=0):.3f}",
                f"{off.mean() if len(off) else 0:.3f}",
                f"{0.5 * math.hypot(rx, ry):.3f}",
                f"{dc.max(initial=0):.3f}",
                f"{dr.max(initial=0):.3f}",
            ]
        )
    return header, rows


def _bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)  # pragma: no cover


# -- HTML ------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:0;
color:#1d1d1f;background:#fafafa;line-height:1.45}
main{max-width:1400px;margin:0 auto;padding:24px 28px 60px;background:#fff}
h1{font-size:1.7em;margin:.2em 0}
h2{border-bottom:2px solid #e3e3e3;padding-bottom:4px;margin-top:2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
th,td{border:1px solid #d6d6d6;padding:4px 9px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.total td{font-weight:600;background:#f7f7f7}
figure{margin:1.2em 0;padding:0}figure img{max-width:100%;height:auto;border:1px solid #e0e0e0}
figcaption{font-size:.92em;color:#444;margin-top:.4em}
.warning{background:#fff4e5;border-left:5px solid #f08c00;padding:8px 12px;margin:6px 0}
.note{background:#eef5ff;border-left:5px solid #3d7bd9;padding:8px 12px;margin:6px 0}
.ok{background:#ecf8ee;border-left:5px solid #2e9e44;padding:8px 12px;margin:6px 0}
.meta{color:#555;font-size:.95em}code{background:#f2f2f2;padding:0 3px;border-radius:3px}
nav a{margin-right:14px}pre{background:#f6f6f6;padding:10px;overflow:auto;font-size:.85em}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, total_last: bool = False
) -> str:
    out = [
        "<table>",
        "<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr></thead>",
        "<tbody>",
    ]
    for k, r in enumerate(rows):
        cls = ' class="total"' if total_last and k == len(rows) - 1 else ""
        cells = "".join(
            f'<td class="num">{_e(c)}</td>' if _numeric(c) else f"<td>{_e(c)}</td>" for c in r
        )
        out.append(f"<tr{cls}>{cells}</tr>")
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def _numeric(s: str) -> bool:
    t = str(s).replace(",", "").replace("%", "").replace(" ", "")
    try:
        float(t)
    except ValueError:
        return False
    return True


#: Figures whose PNG is larger than this are embedded as JPEG (photographic content).
PNG_MAX_BYTES = 350_000


def _img(fig: Figure, alt: str, caption: str) -> str:
    from geoharmony.viz.figures import encode_figure

    raw, mime = encode_figure(fig, max_png=PNG_MAX_BYTES)
    data = base64.b64encode(raw).decode("ascii")
    return (
        f'<figure><img src="data:{mime};base64,{data}" alt="{_e(alt)}" />'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _figure(make: Callable[[], Figure], alt: str, caption: str) -> str:
    """Render one figure; a failure becomes a visible warning instead of a broken report."""
    try:
        return _img(make(), alt, caption)
    except Exception as exc:  # the report must still be written; say what failed
        why = f"{_e(type(exc).__name__)}: {_e(exc)}"
        return f'<div class="warning">Figure "{_e(alt)}" could not be drawn: {why}</div>'


def build_report(source: Any, *, n_patches: int = 3, seed: int = 0, dpi: float = 90) -> str:
    """The report's HTML text (see :func:`write_report`)."""
    from geoharmony.viz.centers import plot_centers
    from geoharmony.viz.figures import sample_patches
    from geoharmony.viz.footprints import plot_footprints
    from geoharmony.viz.grid import plot_grid
    from geoharmony.viz.patch import plot_patch
    from geoharmony.viz.stats import plot_offsets, plot_valid_fractions
    from geoharmony.viz.study_area import plot_study_area

    src = load_source(source)
    m = src.manifest
    idx = src.index
    n = len(idx)
    findings = review(src)
    title = f"geoharmony report: {Path(src.label).name}"
    parts: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8" />',
        '<meta name="viewport" content="width=device-width, initial-scale=1" />',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{_e(title)}</h1>",
    ]
    created = m.get("created", "")
    version = m.get("geoharmony", "")
    parts.append(
        f'<p class="meta">Dataset <code>{_e(src.label)}</code>'
        + (f", written {_e(created)} by geoharmony {_e(version)}" if created else "")
        + f". {n:,} patches"
        + (f" kept of {src.n_candidates:,} lattice points" if src.n_candidates else "")
        + f" in {len(src.regions)} region(s); mode <b>{_e(src.mode)}</b>, "
        f"reference <b>{_e(src.reference)}</b>, "
        f"patch {src.patch_size} px, stride {src.stride} px, keep <code>{_e(src.keep)}</code>.</p>"
    )
    parts.append(f"<p>{_e(MODE_TEXT.get(src.mode, ''))}</p>")
    parts.append(
        '<nav><a href="#warnings">What to worry about</a><a href="#inputs">Inputs</a>'
        '<a href="#outputs">Outputs</a><a href="#where">Where the patches are</a>'
        '<a href="#footprints">Footprints</a><a href="#quality">Quality</a>'
        '<a href="#config">Configuration</a></nav>'
    )
    # warnings
    parts.append('<h2 id="warnings">What to worry about</h2>')
    if not findings:
        parts.append('<div class="ok">Nothing found: footprints agree, all data valid.</div>')
    for f in findings:
        label = "Warning" if f.level == "warning" else "Note"
        parts.append(f'<div class="{f.level}"><b>{label}:</b> {_code(f.text)}</div>')
    # inputs
    parts.append('<h2 id="inputs">What went in</h2>')
    parts.append(
        f"<p>Boundary <code>{_e(src.study_area.boundary)}</code>"
        + (
            f", one region per <code>{_e(src.study_area.id_field)}</code>"
            if src.study_area.id_field
            else ""
        )
        + (f", filtered by <code>{_e(src.study_area.where)}</code>" if src.study_area.where else "")
        + f", buffer {src.study_area.buffer_m:g} m. Rasters:</p>"
    )
    parts.append(_table(*inputs_table(src)))
    # outputs
    parts.append('<h2 id="outputs">What came out</h2>')
    store = m.get("store", {})
    if store:
        parts.append(
            f"<p>Store: {_e(store.get('format', ''))} (<code>{_e(store.get('path', ''))}</code>, "
            f"{_e(store.get('compression', ''))}), index <code>index.parquet</code> "
            "(one row per patch, "
            "EPSG:4326, with each modality's footprint, window, offset and valid fraction).</p>"
        )
    parts.append(_table(*outputs_table(src)))
    parts.append("<h3>Patches per region and split</h3>")
    if "split" in idx:
        parts.append(_table(*splits_table(src), total_last=True))
    # where
    parts.append('<h2 id="where">Where the patches are</h2>')
    parts.append(
        _figure(
            lambda: plot_study_area(src, dpi=dpi),
            "study area",
            "The study area: boundary (green), buffered boundary (red) and the bounding box "
            "of the buffered area (blue), computed from the configuration, over a hillshade; "
            "dashed lines are the input rasters' extents.",
        )
    )
    parts.append(
        _figure(
            lambda: plot_centers(src, dpi=dpi),
            "patch centres",
            f"Every lattice point of the reference '{_e(src.reference)}' near the study area "
            "(blue) "
            f"and the {n:,} kept as patch centres (red), in the reference raster's own CRS.",
        )
    )
    for mod in src.modalities:
        parts.append(
            _figure(
                lambda mod=mod: plot_grid(src, mod, dpi=dpi),  # type: ignore[misc]
                f"patch grid {mod}",
                f"All {n:,} footprints of <b>{_e(mod)}</b> over the {_e(mod)} raster in its "
                "own CRS, "
                "coloured by split; the boundary is on top.",
            )
        )
    # footprints and patches
    parts.append('<h2 id="footprints">How the modalities relate: sampled patches</h2>')
    parts.append(
        "<p>For each sampled patch: the true ground footprint of every modality (left; a "
        "zoom on the centre shows each raster's pixel edges and window centre), then the "
        "patch itself three ways: each output in its own real-world extent, in pixel "
        "coordinates (the red + is the patch centre), and all on one common extent.</p>"
    )
    for k, why in sample_patches(src, n_patches, seed=seed):
        pid = str(idx["patch_id"].iloc[k])
        parts.append(f"<h3>Patch {_e(pid)} (#{k}): {_e(why)}</h3>")
        parts.append(
            _figure(
                lambda k=k: plot_footprints(src, k, dpi=dpi),  # type: ignore[misc]
                f"footprints {pid}",
                "Footprints in a local azimuthal-equidistant CRS centred on the patch; "
                "the label gives each modality's resolution, size in pixels and metres, area "
                "relative to the reference and rotation.",
            )
        )
        parts.append(
            _figure(
                lambda k=k: plot_patch(src, k, dpi=min(dpi, 80)),  # type: ignore[misc]
                f"patch {pid}",
                "Rows: own real-world extent; pixel grid; one common extent. Hatched = no data.",
            )
        )
    # quality
    parts.append('<h2 id="quality">Quality</h2>')
    if any(f"{o}_valid_fraction" in idx for o in src.outputs):
        parts.append(
            _figure(
                lambda: plot_valid_fractions(src, dpi=dpi),
                "valid fraction histograms",
                "Share of valid pixels per patch for every output (the dotted line is 50 %).",
            )
        )
    parts.append(
        _figure(
            lambda: plot_offsets(src, dpi=dpi),
            "alignment offset histograms",
            "Distance between each modality's window centre and the patch centre; it can never "
            "exceed half a pixel per axis (red dashed line: half the pixel diagonal).",
        )
    )
    parts.append(_table(*offsets_table(src)))
    # config
    parts.append('<h2 id="config">Configuration and versions</h2>')
    cfg = m.get("config") or (src.config.to_dict() if src.config is not None else {})
    parts.append(
        "<details><summary>Resolved configuration</summary><pre>"
        + _e(json.dumps(cfg, indent=2, default=str))
        + "</pre></details>"
    )
    vers = m.get("versions", {})
    if vers:
        parts.append(_table(["package", "version"], [[k, str(v)] for k, v in vers.items()]))
    parts += ["</main>", "</body>", "</html>", ""]
    return "\n".join(parts)


def _code(text: str) -> str:
    """Escape text, then render `backticked` words as code."""
    pieces = _e(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


def write_report(
    source: Any, out: str | Path, *, n_patches: int = 3, seed: int = 0, dpi: float = 90
) -> Path:
    """Write the self-contained HTML report of a dataset.

    Parameters
    ----------
    source
        A dataset folder or :class:`~geoharmony.reading.dataset.Dataset` (a configuration works
        too: the report then shows the plan, without valid fractions or labels).
    out
        The ``.html`` file to write.
    n_patches
        How many sampled patches get footprint and patch figures.
    seed
        Seed of the random patch sample.
    dpi
        Resolution of the embedded figures.

    Returns
    -------
    Path
        ``out``.
    """
    from geoharmony.viz.source import VizInputError

    path = Path(out)
    if path.suffix.lower() not in (".html", ".htm"):
        raise VizInputError(f"--out {path}: the report is HTML; use a .html file name")
    text = build_report(source, n_patches=n_patches, seed=seed, dpi=dpi)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
