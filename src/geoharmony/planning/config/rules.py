"""Cross-field rules: checks that span more than one table, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from geoharmony.errors import ConfigError


def check_cross_field(
    source: Path, *, modalities: Mapping[str, Any], labels: Mapping[str, Any]
) -> None:
    """Refuse combinations that each table alone cannot see.

    Raises
    ------
    ConfigError
        A label named like a modality.
    """
    clash = set(labels) & set(modalities)
    if clash:
        raise ConfigError(
            f"{source}: [labels.{sorted(clash)[0]}] has the same name as a modality; rename one"
        )
