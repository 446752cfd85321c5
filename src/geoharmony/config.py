"""Configuration: TOML parsed into frozen dataclasses, every key validated.

Errors name the file, the key, the rule, the value found and the fix. Unknown keys are
refused with the nearest valid name. Relative paths resolve against the config file.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from geoharmony.errors import ConfigError

MODES = ("native", "footprint", "resample")
KEEP_RULES = ("center", "inside", "overlap")
FORMATS = ("zarr", "hdf5", "webdataset", "tfrecord", "geotiff")
EXTENTS = ("boundary", "bbox")
RESAMPLINGS = ("nearest", "bilinear", "cubic", "average", "mode")
SPLIT_BY = ("region", "block")
LABEL_KINDS = ("vector", "d8")


@dataclass(frozen=True, slots=True)
class StudyAreaConfig:
    """``[study_area]``: where patches may be."""

    boundary: Path
    layer: str | None = None
    id_field: str | None = None
    where: str | None = None
    buffer_m: float = 0.0
    extent: str = "boundary"


@dataclass(frozen=True, slots=True)
class GridConfig:
    """``[grid]``: the lattice and how resolutions are harmonised."""

    reference: str | None
    patch_size: int
    stride: int
    mode: str = "native"
    keep: str = "center"
    min_overlap: float = 0.5


@dataclass(frozen=True, slots=True)
class ModalityConfig:
    """``[modalities.NAME]``: one raster source."""

    name: str
    path: str  # may contain {id}; absolute after loading
    bands: tuple[int, ...] | None = None
    categorical: bool = False
    nodata: float | None = None
    resampling: str | None = None

    def path_for(self, region_id: str) -> Path:
        """The raster path for a region (``{id}`` substituted)."""
        return Path(self.path.replace("{id}", region_id))

    @property
    def per_region(self) -> bool:
        """True when the path contains ``{id}``."""
        return "{id}" in self.path

    @property
    def warp_resampling(self) -> str:
        """Resampling used when this modality is warped."""
        if self.resampling:
            return self.resampling
        return "nearest" if self.categorical else "bilinear"


@dataclass(frozen=True, slots=True)
class OutputConfig:
    """``[output]``: where and how the dataset is written."""

    path: Path
    format: str = "zarr"
    compression: str = "lz4"
    patches_per_shard: int = 16


@dataclass(frozen=True, slots=True)
class SplitConfig:
    """``[split]``: spatial train/val/test assignment."""

    by: str = "region"
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    lists: Mapping[str, tuple[str, ...]] | None = None
    seed: int = 0
    block_m: float = 5000.0


@dataclass(frozen=True, slots=True)
class VectorSource:
    """One vector layer burned into a label."""

    path: Path
    layer: str | None = None
    buffer_m: float = 0.0
    where: str | None = None
    value: int = 1


@dataclass(frozen=True, slots=True)
class LabelConfig:
    """``[labels.NAME]``: a vector burn (``kind = "vector"``) or D8 flow direction."""

    name: str
    kind: str
    grid: str | None = None
    sources: tuple[VectorSource, ...] = ()
    dem: str | None = None
    all_touched: bool = True


@dataclass(frozen=True, slots=True)
class Config:
    """A whole, validated pipeline configuration."""

    source: Path
    study_area: StudyAreaConfig
    grid: GridConfig
    modalities: Mapping[str, ModalityConfig]
    output: OutputConfig
    split: SplitConfig | None = None
    labels: Mapping[str, LabelConfig] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form of the resolved configuration (for the manifest)."""

        def conv(v: Any) -> Any:
            if isinstance(v, Path):
                return str(v)
            if isinstance(v, Mapping):
                return {k: conv(x) for k, x in v.items()}
            if isinstance(v, list | tuple):
                return [conv(x) for x in v]
            return v

        d = asdict(self)
        d.pop("raw", None)
        return {k: conv(v) for k, v in d.items()}


# ------------------------------------------------------------------------------------
class _Reader:
    """Reads one TOML table, checking types and refusing unknown keys."""

    def __init__(self, file: Path, table: str, data: Any, allowed: tuple[str, ...]) -> None:
        self.file, self.table = file, table
        if not isinstance(data, dict):
            self.fail("", f"must be a table, found {type(data).__name__} {data!r}")
        self.data: dict[str, Any] = data
        for key in data:
            if key not in allowed:
                near = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean {near[0]!r}?" if near else f"valid keys: {', '.join(allowed)}"
                self.fail(key, f"is not a known key; {hint}")

    def where(self, key: str) -> str:
        if not self.table:  # the top level: its keys are table names
            return f"{self.file}: [{key}]" if key else f"{self.file}:"
        return f"{self.file}: [{self.table}]" + (f".{key}" if key else "")

    def fail(self, key: str, msg: str) -> None:
        raise ConfigError(f"{self.where(key)} {msg}")

    def get(
        self,
        key: str,
        kind: type | tuple[type, ...],
        default: Any = None,
        *,
        required: bool = False,
    ) -> Any:
        if key not in self.data:
            if required:
                self.fail(key, "is required but missing")
            return default
        v = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int subclass: refuse it where a number is wanted
        if (isinstance(v, bool) and bool not in kinds) or not isinstance(v, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            self.fail(key, f"must be {names}, found {type(v).__name__} {v!r}")
        return v

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        v = self.get(key, str, default)
        if v not in choices:
            near = difflib.get_close_matches(v, choices, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            self.fail(key, f"must be one of {', '.join(choices)}, found {v!r}{hint}")
        return str(v)

    def positive_int(self, key: str, default: int | None = None, *, required: bool = False) -> int:
        v = self.get(key, int, default, required=required)
        if v is None or v <= 0:
            self.fail(key, f"must be a positive integer, found {v!r}")
        return int(v)

    def path(self, key: str, base: Path, *, required: bool = True) -> Path | None:
        v = self.get(key, str, None, required=required)
        if v is None:
            return None
        p = Path(v).expanduser()
        return p if p.is_absolute() else (base / p)


def _number(r: _Reader, key: str, default: float | None) -> float | None:
    v = r.get(key, (int, float), default)
    return None if v is None else float(v)


def load_config(path: str | Path) -> Config:
    """Read and validate a pipeline configuration file.

    Parameters
    ----------
    path
        A TOML file following the contract's ``[study_area]``, ``[grid]``,
        ``[modalities.*]``, ``[output]``, ``[split]`` and ``[labels.*]`` tables.

    Raises
    ------
    ConfigError
        With a message naming the file, the key, the rule, the value found and the fix.
    """
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise ConfigError(f"{file}: configuration file not found; check the path")
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not a UTF-8 text file ({exc})") from None
    return config_from_dict(raw, source=file)


def config_from_dict(raw: Mapping[str, Any], *, source: Path) -> Config:
    """Validate an already-parsed configuration mapping (see :func:`load_config`)."""
    base = source.parent
    _Reader(  # refuses unknown top-level tables
        source, "", dict(raw), ("study_area", "grid", "modalities", "output", "split", "labels")
    )
    for required in ("study_area", "grid", "modalities", "output"):
        if required not in raw:
            raise ConfigError(f"{source}: the [{required}] table is required but missing")

    sa = _Reader(
        source,
        "study_area",
        raw["study_area"],
        ("boundary", "layer", "id_field", "where", "buffer_m", "extent"),
    )
    study_area = StudyAreaConfig(
        boundary=sa.path("boundary", base),  # type: ignore[arg-type]
        layer=sa.get("layer", str),
        id_field=sa.get("id_field", str),
        where=sa.get("where", str),
        buffer_m=_number(sa, "buffer_m", 0.0) or 0.0,
        extent=sa.choice("extent", EXTENTS, "boundary"),
    )

    mods_raw = raw["modalities"]
    if not isinstance(mods_raw, dict) or not mods_raw:
        raise ConfigError(
            f"{source}: [modalities] must hold at least one [modalities.NAME] table, "
            f"found {mods_raw!r}"
        )
    modalities: dict[str, ModalityConfig] = {}
    for name, table in mods_raw.items():
        if not name.isidentifier():
            raise ConfigError(
                f"{source}: [modalities.{name}] name must be a plain identifier "
                f"(letters, digits, _), found {name!r}"
            )
        m = _Reader(
            source,
            f"modalities.{name}",
            table,
            ("path", "bands", "categorical", "nodata", "resampling"),
        )
        p = m.path("path", base)
        bands = m.get("bands", list)
        if bands is not None:
            if not bands or not all(
                isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in bands
            ):
                m.fail(
                    "bands", f"must be a non-empty list of 1-based band numbers, found {bands!r}"
                )
            bands = tuple(bands)
        res = m.get("resampling", str)
        if res is not None and res not in RESAMPLINGS:
            m.fail("resampling", f"must be one of {', '.join(RESAMPLINGS)}, found {res!r}")
        modalities[name] = ModalityConfig(
            name=name,
            path=str(p),
            bands=bands,
            categorical=bool(m.get("categorical", bool, False)),
            nodata=_number(m, "nodata", None),
            resampling=res,
        )

    g = _Reader(
        source,
        "grid",
        raw["grid"],
        ("reference", "patch_size", "stride", "mode", "keep", "min_overlap"),
    )
    patch_size = g.positive_int("patch_size", required=True)
    reference = g.get("reference", str)
    if reference is not None and reference not in modalities:
        near = difflib.get_close_matches(reference, list(modalities), n=1)
        hint = f"did you mean {near[0]!r}?" if near else f"defined: {', '.join(modalities)}"
        g.fail("reference", f"must name a modality, found {reference!r}; {hint}")
    keep = g.choice("keep", KEEP_RULES, "center")
    min_overlap = _number(g, "min_overlap", 0.5)
    if "min_overlap" in g.data:
        if keep != "overlap":
            g.fail("min_overlap", f"only applies with keep = 'overlap', but keep = {keep!r}")
        if not (0.0 < float(min_overlap or 0) <= 1.0):
            g.fail("min_overlap", f"must be a fraction in (0, 1], found {min_overlap!r}")
    grid = GridConfig(
        reference=reference,
        patch_size=patch_size,
        stride=g.positive_int("stride", patch_size),
        mode=g.choice("mode", MODES, "native"),
        keep=keep,
        min_overlap=float(min_overlap),  # type: ignore[arg-type]
    )

    o = _Reader(
        source, "output", raw["output"], ("path", "format", "compression", "patches_per_shard")
    )
    output = OutputConfig(
        path=o.path("path", base),  # type: ignore[arg-type]
        format=o.choice("format", FORMATS, "zarr"),
        compression=o.choice("compression", ("lz4", "zstd", "none"), "lz4"),
        patches_per_shard=o.positive_int("patches_per_shard", 16),
    )

    split = _split(source, base, raw["split"]) if "split" in raw else None
    labels = _labels(source, base, raw.get("labels", {}), modalities)
    clash = set(labels) & set(modalities)
    if clash:
        raise ConfigError(
            f"{source}: [labels.{sorted(clash)[0]}] has the same name as a modality; rename one"
        )
    return Config(source, study_area, grid, modalities, output, split, labels, dict(raw))


def _split(source: Path, base: Path, table: Any) -> SplitConfig:
    s = _Reader(
        source, "split", table, ("by", "fractions", "train", "val", "test", "seed", "block_m")
    )
    by = s.choice("by", SPLIT_BY, "region")
    fr = s.get("fractions", list, [0.8, 0.1, 0.1])
    if (
        len(fr) != 3
        or not all(isinstance(f, int | float) and not isinstance(f, bool) and f >= 0 for f in fr)
        or abs(sum(fr) - 1.0) > 1e-6
    ):
        s.fail(
            "fractions",
            f"must be three non-negative numbers (train, val, test) summing to 1, found {fr!r}",
        )
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("train", "val", "test"):
        v = s.get(key, (str, list))
        if v is None:
            continue
        if isinstance(v, str):
            p = Path(v) if Path(v).is_absolute() else base / v
            if not p.is_file():
                s.fail(key, f"names a file of region ids that does not exist: {p}")
            v = [
                line.strip()
                for line in p.read_text().splitlines()
                if line.strip() and not line.startswith("#")
            ]
        lists[key] = tuple(str(x) for x in v)
    if lists and by != "region":
        s.fail("by", f"explicit train/val/test lists need by = 'region', found {by!r}")
    block_m = _number(s, "block_m", 5000.0)
    if block_m is None or block_m <= 0:
        s.fail("block_m", f"must be a positive number of metres, found {block_m!r}")
    seed = s.get("seed", int, 0)
    return SplitConfig(by, tuple(float(f) for f in fr), lists or None, int(seed), float(block_m))  # type: ignore[arg-type]


def _labels(
    source: Path, base: Path, table: Any, modalities: Mapping[str, ModalityConfig]
) -> dict[str, LabelConfig]:
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [labels] must hold [labels.NAME] tables, found {table!r}")
    out = {}
    for name, t in table.items():
        r = _Reader(source, f"labels.{name}", t, ("kind", "grid", "sources", "dem", "all_touched"))
        kind = r.choice("kind", LABEL_KINDS, "vector")
        if kind == "vector":
            grid = r.get("grid", str, required=True)
            if grid not in modalities:
                r.fail(
                    "grid",
                    f"must name a modality, found {grid!r}; defined: {', '.join(modalities)}",
                )
            srcs_raw = r.get("sources", list, required=True)
            if not srcs_raw:
                r.fail("sources", "must list at least one { path = ... } source")
            srcs = []
            for k, sr in enumerate(srcs_raw):
                v = _Reader(
                    source,
                    f"labels.{name}.sources[{k}]",
                    sr,
                    ("path", "layer", "buffer_m", "where", "value"),
                )
                value = v.get("value", int, k + 1 if len(srcs_raw) > 1 else 1)
                if not 1 <= value <= 255:
                    v.fail("value", f"must be a label code in 1..255, found {value!r}")
                srcs.append(
                    VectorSource(
                        path=v.path("path", base),  # type: ignore[arg-type]
                        layer=v.get("layer", str),
                        buffer_m=_number(v, "buffer_m", 0.0) or 0.0,
                        where=v.get("where", str),
                        value=value,
                    )
                )
            out[name] = LabelConfig(
                name,
                kind,
                grid=grid,
                sources=tuple(srcs),
                all_touched=bool(r.get("all_touched", bool, True)),
            )
        else:
            dem = r.get("dem", str, required=True)
            if dem not in modalities:
                r.fail(
                    "dem", f"must name a modality, found {dem!r}; defined: {', '.join(modalities)}"
                )
            out[name] = LabelConfig(name, kind, grid=dem, dem=dem)
    return out
