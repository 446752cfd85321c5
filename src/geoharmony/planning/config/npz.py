"""``[output.npz]``: how the NumPy ``.npz`` export names, lays out and describes patches.

The export targets training code that already exists: one ``patch_<k>.npz`` per patch in
one folder per region, arrays under the names that code reads (``keys``), channels last,
and a ``normalization_stats.json`` per region in the schema that code reads
(``stats_schema``; ``national_ml`` maps modalities to blocks with ``stats_blocks``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoharmony.errors import ConfigError
from geoharmony.planning.config._reader import TableReader

#: Schemas of the per-region ``normalization_stats.json``.
STATS_SCHEMAS = ("geoharmony", "national_ml", "none")
#: Keys every ``.npz`` holds besides the arrays (and ``<key>_window``, ``<key>_transform``).
RESERVED_KEYS = ("patch_id", "region", "position")


@dataclass(frozen=True, slots=True)
class StatsBlock:
    """Where one modality's statistics go in a ``national_ml`` stats file.

    ``{block: {f"{prefix}_mean": ..., f"{prefix}_stdDev": ...}}``: one number for a
    single-band modality, a list (one per band) otherwise.
    """

    block: str
    prefix: str


@dataclass(frozen=True, slots=True)
class NpzOptions:
    """``[output.npz]``: names, layout and statistics schema of the ``.npz`` export."""

    keys: Mapping[str, str] = field(default_factory=dict)
    channels_last: bool = True
    stats_schema: str = "geoharmony"
    stats_blocks: Mapping[str, StatsBlock] = field(default_factory=dict)

    def key(self, output: str) -> str:
        """The ``.npz`` key of a modality or label (its own name unless mapped)."""
        return self.keys.get(output, output)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (for the store description)."""
        return {
            "keys": dict(self.keys),
            "channels_last": self.channels_last,
            "stats_schema": self.stats_schema,
            "stats_blocks": {
                m: {"block": b.block, "prefix": b.prefix} for m, b in self.stats_blocks.items()
            },
        }


def parse_npz(source: Path, table: Any) -> NpzOptions:
    """Validate the ``[output.npz]`` table (names are checked by :func:`check_npz`)."""
    r = TableReader(
        source, "output.npz", table, ("keys", "channels_last", "stats_schema", "stats_blocks")
    )
    keys = r.get("keys", dict, {})
    for out, key in keys.items():
        if not isinstance(key, str) or not key.isidentifier():
            r.fail(f"keys.{out}", f"must be a plain identifier string, found {key!r}")
    blocks_raw = r.get("stats_blocks", dict, {})
    blocks: dict[str, StatsBlock] = {}
    for mod, spec in blocks_raw.items():
        where = f"stats_blocks.{mod}"
        if isinstance(spec, str):
            spec = {"block": spec}
        b = TableReader(source, f"output.npz.{where}", spec, ("block", "prefix"))
        block = b.get("block", str, required=True)
        blocks[mod] = StatsBlock(block, b.get("prefix", str, block))
    schema = r.choice("stats_schema", STATS_SCHEMAS, "geoharmony")
    if schema == "national_ml" and not blocks:
        r.fail(
            "stats_blocks",
            'is required with stats_schema = "national_ml": map each modality to its block, '
            'e.g. stats_blocks = { dem = { block = "dem", prefix = "elevation" } }',
        )
    return NpzOptions(
        keys=dict(keys),
        channels_last=bool(r.get("channels_last", bool, True)),
        stats_schema=schema,
        stats_blocks=blocks,
    )


def check_npz(
    source: Path, opts: NpzOptions, modalities: Mapping[str, Any], labels: Mapping[str, Any]
) -> None:
    """Refuse keys naming no output, clashing keys and stats blocks of non-modalities.

    Raises
    ------
    ConfigError
        Naming the key, what was found and the fix.
    """
    outputs = [*modalities, *labels]
    where = f"{source}: [output.npz]"
    for out in opts.keys:
        if out not in outputs:
            raise ConfigError(
                f"{where}.keys.{out} names no modality or label; defined: {', '.join(outputs)}"
            )
    names = [opts.key(o) for o in outputs]
    taken: dict[str, str] = {}
    for out, key in zip(outputs, names, strict=True):
        clash = [k for k in (key, f"{key}_mask", f"{key}_window", f"{key}_transform")]
        for k in clash:
            if k in RESERVED_KEYS or k in taken:
                other = taken.get(k, "the file's own metadata")
                raise ConfigError(
                    f"{where}.keys: {out!r} is stored as {key!r}, whose array {k!r} clashes "
                    f"with {other}; choose another key"
                )
            taken[k] = repr(out)
    for mod in opts.stats_blocks:
        if mod not in modalities:
            raise ConfigError(
                f"{where}.stats_blocks.{mod} names no modality (labels have no statistics); "
                f"modalities: {', '.join(modalities)}"
            )
