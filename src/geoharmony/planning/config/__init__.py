"""Configuration: TOML parsed into frozen dataclasses, every key validated.

One module per table (``study_area``, ``grid``, ``modalities``, ``output``, ``split``,
``labels``), each with its dataclass and one ``parse_*`` function; rules that span tables
live in :mod:`.rules`. Errors name the file, the key, the rule, the value found and the
fix. Unknown keys are refused with the nearest valid name. Relative paths resolve against
the config file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from geoharmony.errors import ConfigError
from geoharmony.io.inputs import refuse_special
from geoharmony.planning.config._reader import TableReader
from geoharmony.planning.config.grid import KEEP_RULES, MODES, GridConfig, parse_grid
from geoharmony.planning.config.labels import (
    LABEL_KINDS,
    LabelConfig,
    VectorSource,
    parse_labels,
)
from geoharmony.planning.config.modalities import RESAMPLINGS, ModalityConfig, parse_modalities
from geoharmony.planning.config.npz import check_npz
from geoharmony.planning.config.output import FORMATS, OutputConfig, parse_output
from geoharmony.planning.config.rules import check_cross_field
from geoharmony.planning.config.split import SPLIT_BY, SplitConfig, parse_split
from geoharmony.planning.config.study_area import EXTENTS, StudyAreaConfig, parse_study_area

__all__ = [
    "EXTENTS",
    "FORMATS",
    "KEEP_RULES",
    "LABEL_KINDS",
    "MODES",
    "RESAMPLINGS",
    "SPLIT_BY",
    "Config",
    "GridConfig",
    "LabelConfig",
    "ModalityConfig",
    "OutputConfig",
    "SplitConfig",
    "StudyAreaConfig",
    "VectorSource",
    "config_from_dict",
    "load_config",
]

TABLES = ("study_area", "grid", "modalities", "output", "split", "labels")
REQUIRED_TABLES = ("study_area", "grid", "modalities", "output")


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
    refuse_special(file, "configuration file", "the CONFIG argument")
    if not file.is_file():
        raise ConfigError(f"{file}: configuration file not found; check the path")
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not a UTF-8 text file ({exc})") from None
    except RecursionError:
        raise ConfigError(f"{file}: not valid TOML (arrays or tables nested too deeply)") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the configuration ({exc.strerror})") from None
    try:
        return config_from_dict(raw, source=file)
    except RecursionError:
        raise ConfigError(f"{file}: values nested too deeply to be a configuration") from None
    except (OSError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        # a path the file system refuses (too long, bad characters): name it
        raise ConfigError(f"{file}: invalid configuration value ({exc})") from None


def config_from_dict(raw: Mapping[str, Any], *, source: Path) -> Config:
    """Validate an already-parsed configuration mapping (see :func:`load_config`)."""
    base = source.parent
    TableReader(source, "", dict(raw), TABLES)  # refuses unknown top-level tables
    for required in REQUIRED_TABLES:
        if required not in raw:
            raise ConfigError(f"{source}: the [{required}] table is required but missing")
    study_area = parse_study_area(source, base, raw["study_area"])
    modalities = parse_modalities(source, base, raw["modalities"])
    grid = parse_grid(source, raw["grid"], modalities)
    output = parse_output(source, base, raw["output"])
    split = parse_split(source, base, raw["split"]) if "split" in raw else None
    labels = parse_labels(source, base, raw.get("labels", {}), modalities)
    check_cross_field(
        source, study_area=study_area, modalities=modalities, labels=labels, output=output
    )
    if output.npz is not None:
        check_npz(source, output.npz, modalities, labels)
    return Config(source, study_area, grid, modalities, output, split, labels, dict(raw))
