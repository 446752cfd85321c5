"""STAC inputs: a modality's rasters named by an asset of STAC items.

``[modalities.NAME] stac = "items.json" | URL`` and ``asset = "B04"`` read a STAC
Item, or an ItemCollection (a GeoJSON ``FeatureCollection`` of items), with
``pystac``. Each region uses the item whose id is the region's id, else the items whose
``bbox`` intersects the region: one item is opened like any other modality path (its
asset ``href``, resolved against the STAC file's location when relative), locally or over
HTTP; several are read as one mosaic (:mod:`geoharmony.io.mosaic`: a GDAL VRT of their
assets, which must share CRS, resolution, pixel alignment, bands and dtype). The
manifest records the item ids and hrefs of every region.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from geoharmony.errors import ConfigError, InputError
from geoharmony.io.inputs import refuse_special
from geoharmony.io.remote import host_of, http_url, is_remote


@dataclass(frozen=True, slots=True)
class StacAsset:
    """One item's asset: where its raster is."""

    item_id: str
    asset: str
    href: str
    bbox: tuple[float, float, float, float] | None
    parts: tuple[StacAsset, ...] = ()  # the items of a mosaic (then item_id joins theirs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the manifest)."""
        if self.parts:
            return {
                "item": self.item_id,
                "asset": self.asset,
                "mosaic": [p.to_dict() for p in self.parts],
            }
        return {"item": self.item_id, "asset": self.asset, "href": self.href}


def _read_json(source: str, where: str) -> Any:
    url = http_url(source) or (source if source.lower().startswith("https://") else None)
    if url is not None:
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise InputError(
                f"{url}: the STAC file ({where}) is not available from {host_of(url)}: "
                f"HTTP {exc.code} {exc.reason}; check the URL"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise InputError(
                f"{url}: the STAC file ({where}) is not reachable at {host_of(url)}: "
                f"{getattr(exc, 'reason', exc)}; check that the server is up"
            ) from None
        except ValueError as exc:
            raise InputError(f"{url}: the STAC file ({where}) is not JSON ({exc})") from None
    path = Path(source)
    refuse_special(path, "STAC file", where)
    if not path.is_file():
        raise InputError(f"{path}: STAC file not found ({where}); check the path")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: the STAC file ({where}) is not JSON ({exc})") from None


def _resolve(href: str, base: str) -> str:
    if is_remote(href) or Path(href).is_absolute():
        return href
    if http_url(base):
        return urllib.parse.urljoin(http_url(base) or base, href)
    return str((Path(base).parent / href).resolve())


@lru_cache(maxsize=32)
def load_assets(source: str, asset: str, where: str) -> tuple[StacAsset, ...]:
    """Every item of a STAC Item/ItemCollection file with its ``asset`` href.

    Raises
    ------
    InputError
        When the file cannot be read, is not a STAC Item or ItemCollection, or an item
        lacks the asset (the message lists the assets it has).
    """
    import pystac

    data = _read_json(source, where)
    kind = data.get("type") if isinstance(data, dict) else None
    try:
        if kind == "Feature":
            items = [pystac.Item.from_dict(data)]
        elif kind == "FeatureCollection":
            items = list(pystac.ItemCollection.from_dict(data).items)
        else:
            raise InputError(
                f"{source}: {where} must be a STAC Item or ItemCollection "
                f"(GeoJSON Feature or FeatureCollection), found type {kind!r}"
            )
    except (pystac.STACError, KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{source}: {where} is not a valid STAC file ({exc})") from None
    if not items:
        raise InputError(f"{source}: {where} holds no STAC items")
    out = []
    for item in items:
        a = item.assets.get(asset)
        if a is None:
            key = where.replace(".stac", ".asset")
            raise InputError(
                f"{source}: STAC item {item.id!r} has no asset {asset!r} ({key}); "
                f"its assets: {', '.join(sorted(item.assets)) or 'none'}"
            )
        bbox = tuple(float(v) for v in item.bbox[:2] + item.bbox[-2:]) if item.bbox else None
        out.append(StacAsset(item.id, asset, _resolve(a.href, source), bbox))  # type: ignore[arg-type]
    return tuple(out)


def assets_for_region(
    assets: tuple[StacAsset, ...],
    region_id: str,
    lonlat_bounds: tuple[float, float, float, float],
    where: str,
) -> tuple[StacAsset, ...]:
    """The assets a region reads: the item named like the region, else those it overlaps.

    Raises
    ------
    InputError
        When no item overlaps the region.
    """
    if len(assets) == 1:
        return assets
    for a in assets:
        if a.item_id == region_id:
            return (a,)
    w, s, e, n = lonlat_bounds
    hits = tuple(
        a
        for a in assets
        if a.bbox is None or (a.bbox[0] < e and a.bbox[2] > w and a.bbox[1] < n and a.bbox[3] > s)
    )
    if not hits:
        raise InputError(
            f"{where}: no STAC item covers region {region_id!r} (lon/lat bounds "
            f"{tuple(round(v, 5) for v in lonlat_bounds)}); add an item for it or name one "
            f"with the region's id"
        )
    return hits


def asset_for_region(
    assets: tuple[StacAsset, ...],
    region_id: str,
    lonlat_bounds: tuple[float, float, float, float],
    where: str,
) -> StacAsset:
    """The one asset of a region (see :func:`assets_for_region`); a mosaic is refused."""
    hits = assets_for_region(assets, region_id, lonlat_bounds, where)
    if len(hits) > 1:
        raise InputError(
            f"{where}: region {region_id!r} overlaps {len(hits)} STAC items "
            f"({', '.join(a.item_id for a in hits[:5])}); a single asset was expected"
        )
    return hits[0]


def check_keys(source: str | None, asset: str | None, path: str | None, where: str) -> None:
    """Config rule: exactly one of ``path`` and ``stac``; ``asset`` only with ``stac``."""
    if source is None and path is None:
        raise ConfigError(
            f"{where}.path is required but missing (or `stac` and `asset` to read a STAC "
            "item's asset); add one"
        )
    if source is not None and path is not None:
        raise ConfigError(f"{where}: give either `path` or `stac`, not both")
    if source is not None and not asset:
        raise ConfigError(f'{where}.asset is required with `stac`: the asset key, e.g. "B04"')
    if source is None and asset is not None:
        raise ConfigError(f"{where}.asset only applies with `stac`; remove it or add `stac`")
