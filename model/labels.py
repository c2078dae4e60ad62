"""The set of classes a model predicts, and which one is the lawful ("allow") class."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

DEFAULT_NEGATIVE = "benign"


@dataclass(frozen=True)
class LabelSet:
    """Ordered class names; position in ``names`` is the class id.

    ``negative`` names the lawful class: every other class is illicit and has decision
    thresholds. The label set comes from the label policy file, so adding a class is a data
    change, not a code change.
    """

    names: tuple[str, ...]
    negative: str = DEFAULT_NEGATIVE

    def __post_init__(self) -> None:
        if len(self.names) < 2:
            raise ValueError(f"a label set needs at least two classes, got {list(self.names)}")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"duplicate class names in {list(self.names)}")
        for name in self.names:
            if not name or not name.replace("_", "").isalnum():
                raise ValueError(f"class name {name!r} must be a non-empty [A-Za-z0-9_] word")
        if self.negative not in self.names:
            raise ValueError(f"negative class {self.negative!r} is not one of {list(self.names)}")

    @classmethod
    def from_names(cls, names: Iterable[str], negative: str = DEFAULT_NEGATIVE) -> LabelSet:
        return cls(tuple(names), negative)

    @classmethod
    def from_config(cls, config: Mapping) -> LabelSet:
        """Read ``id2label`` (keys may be strings, as JSON makes them) and ``negative_label``."""
        id2label = {int(k): v for k, v in config["id2label"].items()}
        names = tuple(id2label[i] for i in range(len(id2label)))
        return cls(names, config.get("negative_label", DEFAULT_NEGATIVE))

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    @property
    def illicit(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if n != self.negative)

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"unknown class {name!r}; known: {list(self.names)}") from None
