"""Which input columns hold the title, description and id, and the columns a scan adds."""

from __future__ import annotations

from dataclasses import dataclass

ADDED_FIXED = ("label", "decision", "model_version")


@dataclass(frozen=True)
class ColumnMap:
    title: str = "title"
    description: str | None = "description"
    id: str | None = "id"


def added_columns(class_names: tuple[str, ...] | list[str]) -> list[str]:
    """Output columns a scan adds, in order: label, score_<class>…, decision, model_version."""
    return ["label", *[f"score_{n}" for n in class_names], "decision", "model_version"]
