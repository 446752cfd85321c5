"""Reading a written dataset: ``open_dataset(path)``; ``len(ds)``; ``ds[i]`` -> arrays."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from geoharmony.errors import DamagedDatasetError, DatasetError
from geoharmony.io.manifest import INDEX, MANIFEST, read_manifest
from geoharmony.planning.persist import PLAN, load_plan
from geoharmony.planning.plan import OutputSpec, Plan
from geoharmony.writers import PatchStore, get_writer


class Dataset:
    """A written patch dataset (store + index + manifest).

    ``ds[i]`` returns ``{"dem": (bands, h, w), "dem_mask": (h, w), ...}`` for every
    modality and label. ``ds.index`` is the GeoParquet index as a GeoDataFrame and
    ``ds.plan`` the :class:`~geoharmony.planning.plan.Plan` it was made from.

    A dataset whose run had failed regions (``complete: false`` in the manifest,
    ``failures.json`` beside it) is refused unless ``allow_incomplete=True``; then
    ``ds.failures`` lists them and their patches hold fill values with false masks.
    """

    def __init__(self, root: str | Path, *, allow_incomplete: bool = False) -> None:
        self.root = Path(root)
        if not (self.root / MANIFEST).is_file():
            partials = sorted(self.root.parent.glob(f".{self.root.name}.partial-*"))
            hint = (
                f"; an unfinished run is in {partials[0]}: rerun extract to resume"
                if partials
                else ""
            )
            raise DatasetError(
                f"{self.root}: not a complete geoharmony dataset (no {MANIFEST}){hint}"
            )
        self.manifest: dict[str, Any] = self._read(MANIFEST, lambda: read_manifest(self.root))
        store = self.manifest.get("store") if isinstance(self.manifest, dict) else None
        if not isinstance(store, dict) or not isinstance(store.get("format"), str):
            raise self._damaged(MANIFEST, "not a geoharmony manifest (no store format)")
        if not self.complete and not allow_incomplete:
            failed = (self.manifest.get("failures") or {}).get("regions", [])
            raise DatasetError(
                f"{self.root}: incomplete dataset: {len(failed)} region(s) failed "
                f"({', '.join(map(str, failed[:10]))}{' ...' if len(failed) > 10 else ''}; "
                f"reasons in {self.root / 'failures.json'}); rerun extract to retry them, "
                "or open_dataset(path, allow_incomplete=True) to read the regions that "
                "completed"
            )
        fmt = self.manifest["store"]["format"]
        self._store: PatchStore | None = None
        self._writer = get_writer(fmt)

    @property
    def complete(self) -> bool:
        """False when regions failed (see :attr:`failures`)."""
        return bool(self.manifest.get("complete", False))

    @property
    def failures(self) -> list[dict[str, Any]]:
        """The failed regions (region, input, path, reason, tasks); empty when complete."""
        p = self.root / "failures.json"
        if not p.is_file():
            return []
        return list(json.loads(p.read_text(encoding="utf-8")).get("failures", []))

    @property
    def store(self) -> PatchStore:
        """The patch store (opened lazily, so a Dataset pickles into loader workers)."""
        if self._store is None:
            rel = self.manifest["store"].get("path") or self._writer.store_name
            if not (self.root / str(rel)).exists():
                raise self._damaged(str(rel), "missing")
            self._store = self._read(str(rel), lambda: self._writer.reader(self.root))
        return self._store

    @cached_property
    def plan(self) -> Plan:
        """The plan the dataset was made from (``plan.json``; equal to ``compute_plan``'s)."""
        if not (self.root / PLAN).is_file() and PLAN in (self.manifest.get("checksums") or {}):
            raise self._damaged(PLAN, "missing")  # written with one: not an older dataset
        if (self.root / INDEX).exists() and not (self.root / INDEX).is_file():
            raise self._damaged(INDEX, "not a file")  # the plan's table is read from it
        return self._read(PLAN, lambda: load_plan(self.root))

    @cached_property
    def index(self) -> Any:
        """The patch index (GeoDataFrame, EPSG:4326)."""
        import geopandas as gpd

        return self._read(INDEX, lambda: gpd.read_parquet(self.root / INDEX))

    def _read(self, name: str, load: Callable[[], Any]) -> Any:
        """``load()``; any failure to read file ``name`` is a :class:`DamagedDatasetError`."""
        try:
            return load()
        except DatasetError:
            raise
        except Exception as exc:  # JSON, Arrow, missing keys, wrong types: all "damaged"
            why = (str(exc).strip().splitlines() or [""])[0]
            if INDEX in why and name != INDEX:  # the plan's table lives in the index
                name = INDEX
            if isinstance(exc, FileNotFoundError):
                why = "missing"
            raise self._damaged(name, why) from None

    def _damaged(self, name: str, why: str) -> DamagedDatasetError:
        path = self.root / name
        return DamagedDatasetError(
            f"{path}: cannot be read ({why or 'unreadable'}); the dataset is damaged: "
            "extract it again (geoharmony extract CONFIG --overwrite)"
        )

    @property
    def outputs(self) -> list[str]:
        """Modality and label names."""
        return list(self.plan.outputs)

    @property
    def specs(self) -> Mapping[str, OutputSpec]:
        """What every patch holds, per output (kind, dtype, bands, height, width, codes)."""
        return self.plan.outputs

    @property
    def d8_outputs(self) -> list[str]:
        """Outputs holding D8 flow-direction codes (for :mod:`geoharmony.reading.augment`)."""
        return list(self.d8_encodings)

    @property
    def d8_encodings(self) -> dict[str, str]:
        """``{output: "esri" | "class"}`` of the D8 outputs, from the manifest."""
        from geoharmony.reading.augment import d8_encodings

        return d8_encodings(self.manifest)

    def stats(self, split: str = "train") -> dict[str, Any]:
        """Per-band ``mean``/``std``/``min``/``max``/``count``/``p02``/``p98`` of a split.

        Over valid pixels; ``split="all"`` covers every patch. Computed once at extraction
        time (schema: ``manifest["stats_schema"]``).
        """
        stats = self.manifest.get("stats", {})
        out = {name: per[split] for name, per in stats.items() if split in per}
        if not out:
            present = sorted({s for per in stats.values() for s in per})
            raise DatasetError(
                f"{self.root}: no statistics for split {split!r}; present: {present}"
            )
        return out

    def region_stats(self, region: str) -> dict[str, Any]:
        """The same statistics over the valid pixels of one region's patches.

        Raises
        ------
        DatasetError
            If the dataset has no statistics for ``region``.
        """
        stats = self.manifest.get("stats_by_region", {})
        out = {name: per[region] for name, per in stats.items() if region in per}
        if not out:
            present = sorted({r for per in stats.values() for r in per})
            raise DatasetError(
                f"{self.root}: no statistics for region {region!r}; present: {present}"
            )
        return out

    def __len__(self) -> int:
        return self.plan.n_patches

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"patch index {i} out of range for a dataset of {n} patches")
        i = i % n
        return {name: self.store.read(name, i) for name in self._names}

    @cached_property
    def _names(self) -> list[str]:
        return [x for o in self.outputs for x in (o, f"{o}_mask")]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_store"] = None
        state.pop("index", None)
        state.pop("plan", None)
        return state

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}, patches={len(self)}, outputs={self.outputs})"


def open_dataset(path: str | Path, *, allow_incomplete: bool = False) -> Dataset:
    """Open a dataset folder written by :func:`geoharmony.execution.extract`.

    Raises
    ------
    DatasetError
        When it is not a dataset, or it has failed regions and ``allow_incomplete`` is
        false (the message names them and how to retry).
    """
    return Dataset(path, allow_incomplete=allow_incomplete)
