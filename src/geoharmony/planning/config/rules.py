"""Cross-field rules: checks that span more than one table (or key), in one place."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from geoharmony.errors import ConfigError

#: Names an output may not take: they are (or prefix) columns of the patch index.
RESERVED_NAMES = frozenset(
    {"patch", "patch_id", "patch_index", "region", "split", "task", "geometry", "lon", "lat"}
)
#: Prefixes of index columns and reserved suffixes of stored arrays.
RESERVED_PREFIXES = ("patch_", "lattice_", "center_")
RESERVED_SUFFIXES = ("_mask",)
#: An output name: it becomes an array, a file and a column name in every format.
NAME_RULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
NAME_HINT = "ASCII letters, digits and _, not starting with a digit, at most 64 characters"
#: Resamplings that invent values between classes (wrong for categorical data).
BLENDING = frozenset({"bilinear", "cubic", "average"})


def is_plain_name(name: str) -> bool:
    """Whether ``name`` may name an output (:data:`NAME_RULE`)."""
    return NAME_RULE.fullmatch(name) is not None


def _check_name(source: Path, table: str, name: str) -> None:
    where = f"{source}: [{table}.{name}]"
    if not is_plain_name(name):
        raise ConfigError(f"{where} name must be a plain identifier ({NAME_HINT}), found {name!r}")
    if name in RESERVED_NAMES:
        raise ConfigError(
            f"{where} name {name!r} is reserved (a column of the patch index); rename it"
        )
    if name.startswith(RESERVED_PREFIXES):
        raise ConfigError(
            f"{where} name {name!r} starts with a reserved prefix "
            f"({', '.join(RESERVED_PREFIXES)}: index columns); rename it"
        )
    if name.endswith(RESERVED_SUFFIXES):
        base = name.removesuffix("_mask")
        raise ConfigError(
            f"{where} name {name!r} ends with '_mask', reserved for the validity mask "
            f"stored beside every output (e.g. {base}_mask of {base}); rename it"
        )


def check_cross_field(
    source: Path,
    *,
    modalities: Mapping[str, Any],
    labels: Mapping[str, Any],
    study_area: Any = None,
    output: Any = None,
) -> None:
    """Refuse combinations that each table alone cannot see.

    Raises
    ------
    ConfigError
        A reserved or clashing output name; ``categorical`` data with a blending
        resampling; ``{id}`` in a path without ``[study_area].id_field``.
    """
    for name in modalities:
        _check_name(source, "modalities", name)
    for name in labels:
        _check_name(source, "labels", name)
    clash = set(labels) & set(modalities)
    if clash:
        raise ConfigError(
            f"{source}: [labels.{sorted(clash)[0]}] has the same name as a modality; rename one"
        )
    for name, m in modalities.items():
        if m.categorical and m.resampling in BLENDING:
            raise ConfigError(
                f"{source}: [modalities.{name}] is categorical but resampling = "
                f"{m.resampling!r} would blend class codes; use 'nearest' or 'mode'"
            )
    if study_area is not None and study_area.id_field is None:
        for name, m in modalities.items():
            if "{id}" in str(m.path):
                raise ConfigError(
                    f"{source}: [modalities.{name}].path contains {{id}} but "
                    "[study_area].id_field is not set; set id_field to the boundary "
                    "attribute whose values fill {id}"
                )
