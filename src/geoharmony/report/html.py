"""``geoharmony report``: one self-contained HTML file a reviewer can read without code.

It says what went in (inputs table), what came out (outputs, patches per region and
split), where the patches are (study area, centres, patch grids), how each modality's
footprint relates to the others (footprints and patch figures for a few sampled
patches), and what to worry about (:func:`geoharmony.qa.checks.review`'s findings).
The page is filled from the template blocks of ``report.html`` and styled by
``report.css`` (both shipped beside this module); images are embedded as base64 PNGs
(JPEG when large), so the page needs nothing else.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from geoharmony.io.atomic import write_text_atomic
from geoharmony.io.manifest import raster_records
from geoharmony.qa import checks
from geoharmony.qa.checks import NATIVE_MESSAGE, Finding
from geoharmony.qa.fmt import crs_short, fmt_bytes, fmt_m
from geoharmony.viz.source import Source, VizInputError, load_source

__all__ = ["NATIVE_MESSAGE", "Finding", "build_report", "review", "write_report"]

#: Figures whose PNG is larger than this are embedded as JPEG (photographic content).
PNG_MAX_BYTES = 350_000
_LABELS = {"error": "Error", "warning": "Warning", "note": "Note"}


# -- templates ---------------------------------------------------------------------------
@cache
def _blocks() -> dict[str, Template]:
    """The named blocks of ``report.html`` (``<!--# name -->`` starts one)."""
    text = resources.files("geoharmony.report").joinpath("report.html").read_text("utf-8")
    parts = re.split(r"^<!--# (\w+) -->\n", text, flags=re.MULTILINE)
    return {parts[k]: Template(parts[k + 1].rstrip("\n")) for k in range(1, len(parts) - 1, 2)}


@cache
def _css() -> str:
    return resources.files("geoharmony.report").joinpath("report.css").read_text("utf-8")


def render(block: str, **values: Any) -> str:
    """Fill template ``block``; values are escaped unless their name ends in ``_html``."""
    safe = {k: (str(v) if k.endswith("_html") else _e(v)) for k, v in values.items()}
    return _blocks()[block].substitute(safe)


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _with_code(text: str) -> str:
    """Escape text, then render `backticked` words as code."""
    pieces = str(text).split("`")
    return "".join(render("code", text=p) if i % 2 else _e(p) for i, p in enumerate(pieces))


def _numeric(s: str) -> bool:
    t = str(s).replace(",", "").replace("%", "").replace(" ", "")
    try:
        float(t)
    except ValueError:
        return False
    return True


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, total_last: bool = False
) -> str:
    body = []
    for k, r in enumerate(rows):
        cells = "".join(render("td_num" if _numeric(c) else "td", text=c) for c in r)
        tr = "tr_total" if total_last and k == len(rows) - 1 else "tr"
        body.append(render(tr, cells_html=cells))
    head = "".join(render("th", text=h) for h in header)
    return render("table", head_html=head, rows_html="\n".join(body))


# -- findings ----------------------------------------------------------------------------
def review(src: Any) -> list[Finding]:
    """What a reviewer must see about a dataset (or a plan), most important first."""
    s = load_source(src)
    return checks.review(s.plan, s.index, s.manifest or None)


# -- tables ------------------------------------------------------------------------------
def _input_sizes(src: Source) -> dict[str, int | None]:
    """File sizes recorded at extraction (a dataset) or found now (a configuration)."""
    recorded = {str(rec["path"]): rec.get("size") for _, rec in raster_records(src.manifest)}
    out: dict[str, int | None] = {}
    for per in src.inputs.values():
        for inp in per.values():
            p = str(inp.path)
            if p in recorded:
                out[p] = recorded[p]
            else:
                out[p] = os.stat(p).st_size if os.path.exists(p) else None
    return out


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
    sizes = _input_sizes(src)
    multi = len(sizes) > len(src.modalities)
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
                inp.file_name,
                f"{crs_short(crs)} ({crs.name})",
                res,
                f"{inp.grid.width} \u00d7 {inp.grid.height}",
                fmt_bytes(sizes.get(str(inp.path))),
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
    kinds = {"raster": "raster", "vector": "label: vector burn", "d8": "label: D8"}
    for n, o in src.outputs.items():
        rx, ry = src.resolution_m(n, rid)
        col = f"{n}_valid_fraction"
        v = src.index[col].to_numpy(float) if col in src.index else None
        grid = o.grid_of if src.mode != "resample" else src.reference
        rows.append(
            [
                n,
                kinds.get(o.kind, o.kind),
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
    present = set(idx["split"].astype(str))
    splits = [s for s in ("train", "val", "test", "unassigned") if s in present]
    splits += sorted(present - set(splits))
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
    idx = src.index
    zeros = np.zeros(len(idx))

    def col(name: str) -> np.ndarray:
        return idx[name].to_numpy(float) if name in idx else zeros

    for m in src.modalities:
        rx, ry = src.resolution_m(m, rid)
        off, dc, dr = col(f"{m}_offset_m"), np.abs(col(f"{m}_dcol")), np.abs(col(f"{m}_drow"))
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


# -- figures -----------------------------------------------------------------------------
def _img(fig: Figure, alt: str, caption_html: str) -> str:
    from geoharmony.viz.figures import encode_figure

    raw, mime = encode_figure(fig, max_png=PNG_MAX_BYTES)
    data = base64.b64encode(raw).decode("ascii")
    return render("figure", mime=mime, data=data, alt=alt, caption_html=caption_html)


def _figure(make: Callable[[], Figure], alt: str, caption: str, **values: Any) -> str:
    """Render one figure; a failure becomes a visible warning instead of a broken report."""
    try:
        return _img(make(), alt, render(caption, **values))
    except Exception as exc:  # the report must still be written; say what failed
        return render("figure_failed", alt=alt, why=f"{type(exc).__name__}: {exc}")


def _findings_html(findings: Sequence[Finding]) -> str:
    if not findings:
        return render("no_findings")
    return "\n".join(
        render(
            "finding",
            severity=f.severity,
            label=_LABELS.get(f.severity, f.severity),
            text_html=_with_code(f.message),
            code=f.code,
        )
        for f in findings
    )


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
    m: Mapping[str, Any] = src.manifest
    idx = src.index
    n = len(idx)
    sa = src.study_area
    where = [
        _figure(lambda: plot_study_area(src, dpi=dpi), "study area", "caption_study_area"),
        _figure(
            lambda: plot_centers(src, dpi=dpi),
            "patch centres",
            "caption_centers",
            reference=src.reference,
            n_patches=f"{n:,}",
        ),
    ]
    for mod in src.modalities:
        where.append(
            _figure(
                lambda mod=mod: plot_grid(src, mod, dpi=dpi),  # type: ignore[misc]
                f"patch grid {mod}",
                "caption_grid",
                n_patches=f"{n:,}",
                modality=mod,
            )
        )
    samples = []
    for k, why in sample_patches(src, n_patches, seed=seed):
        pid = str(idx["patch_id"].iloc[k])
        figs = [
            _figure(
                lambda k=k: plot_footprints(src, k, dpi=dpi),  # type: ignore[misc]
                f"footprints {pid}",
                "caption_footprints",
            ),
            _figure(
                lambda k=k: plot_patch(src, k, dpi=min(dpi, 80)),  # type: ignore[misc]
                f"patch {pid}",
                "caption_patch",
            ),
        ]
        samples.append(render("sample", patch_id=pid, k=k, why=why, figures_html="\n".join(figs)))
    quality = []
    if any(f"{o}_valid_fraction" in idx for o in src.outputs):
        quality.append(
            _figure(
                lambda: plot_valid_fractions(src, dpi=dpi),
                "valid fraction histograms",
                "caption_valid",
            )
        )
    quality.append(
        _figure(
            lambda: plot_offsets(src, dpi=dpi), "alignment offset histograms", "caption_offsets"
        )
    )
    quality.append(_table(*offsets_table(src)))
    store = m.get("store", {})
    vers = m.get("versions", {})
    created = m.get("created", "")
    title = f"geoharmony report: {Path(src.label).name}"
    return (
        render(
            "page",
            title=title,
            css_html=_css().strip(),
            label=src.label,
            written_html=(
                render("written", created=created, version=m.get("geoharmony", ""))
                if created
                else ""
            ),
            n_patches=f"{n:,}",
            kept_html=(
                render("kept", n_candidates=f"{src.n_candidates:,}") if src.n_candidates else ""
            ),
            n_regions=len(src.regions),
            mode=src.mode,
            reference=src.reference,
            patch_size=src.patch_size,
            stride=src.stride,
            keep=src.keep,
            mode_text_html=render(f"mode_{src.mode}") if f"mode_{src.mode}" in _blocks() else "",
            findings_html=_findings_html(review(src)),
            boundary=sa.boundary,
            id_field_html=render("id_field", id_field=sa.id_field) if sa.id_field else "",
            filter_html=render("filter", where=sa.where) if sa.where else "",
            buffer_m=f"{sa.buffer_m:g}",
            inputs_html=_table(*inputs_table(src)),
            store_html=(
                render(
                    "store",
                    format=store.get("format", ""),
                    path=store.get("path", ""),
                    compression=store.get("compression", ""),
                )
                if store
                else ""
            ),
            outputs_html=_table(*outputs_table(src)),
            splits_html=_table(*splits_table(src), total_last=True) if "split" in idx else "",
            figures_html="\n".join(where),
            samples_html="\n".join(samples),
            quality_html="\n".join(quality),
            config=json.dumps(src.config.to_dict(), indent=2, default=str),
            versions_html=(
                _table(["package", "version"], [[k, str(v)] for k, v in vers.items()])
                if vers
                else ""
            ),
        )
        + "\n"
    )


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
    path = Path(out)
    if path.suffix.lower() not in (".html", ".htm"):
        raise VizInputError(f"--out {path}: the report is HTML; use a .html file name")
    text = build_report(source, n_patches=n_patches, seed=seed, dpi=dpi)
    write_text_atomic(path, text, mkdir=True)
    return path
