"""Validation of a chapter notebook's papermill parameters.

A notebook's first code cell records the names that exist before its ``parameters`` cell;
papermill injects its values right after that cell; the next cell calls :func:`check`,
which fails fast, before any expensive work, on an unknown (e.g. mistyped) parameter or a
value out of range, and lists the valid parameters in the message.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

PROFILES = ("smoke", "quick", "real", "paper")


class ParameterError(ValueError):
    """A papermill parameter is unknown, missing or out of range."""


@dataclass(frozen=True)
class Spec:
    """What one parameter may be: a type, an inclusive range or a set of choices."""

    kind: type | tuple[type, ...]
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    optional: bool = False   # None allowed
    doc: str = ""
    nonempty: bool = False   # a list must hold at least one item

    def describe(self) -> str:
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        text = "/".join(k.__name__ for k in kinds)
        if self.choices is not None:
            text = ("list of items from " if list in kinds else "one of ") + ", ".join(repr(c) for c in self.choices)
        elif self.low is not None or self.high is not None:
            text += f" in [{self.low if self.low is not None else '-inf'}, "
            text += f"{self.high if self.high is not None else 'inf'}]"
        if self.nonempty:
            text = "non-empty " + text
        if self.optional:
            text += " or None"
        return text

    def validate(self, name: str, value: Any) -> Any:
        if value is None:
            if self.optional:
                return None
            raise ParameterError(f"parameter {name!r} must not be None ({self.describe()})")
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        # bool is an int in Python; don't let True pass as an integer count
        if isinstance(value, bool) and bool not in kinds:
            raise ParameterError(f"parameter {name!r}={value!r}: expected {self.describe()}")
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, str) and str not in kinds and _is_number(value):
            raise ParameterError(
                f"parameter {name!r}={value!r} is text, not a number: YAML reads {value} as a string "
                f"(it needs a decimal point and a signed exponent, e.g. 1.0e-3); expected {self.describe()}")
        if not isinstance(value, kinds):
            raise ParameterError(f"parameter {name!r}={value!r}: expected {self.describe()}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ParameterError(f"parameter {name!r}={value!r} is not a finite number: expected {self.describe()}")
        if self.nonempty and isinstance(value, (list, tuple)) and not value:
            raise ParameterError(f"parameter {name!r} is an empty list: expected {self.describe()}")
        if self.choices is not None:
            items = value if isinstance(value, (list, tuple)) else [value]
            bad = [v for v in items if v not in self.choices]
            if bad:
                raise ParameterError(
                    f"parameter {name!r}={value!r}: {bad[0]!r} is not {self.describe()}")
        if self.low is not None and value < self.low or self.high is not None and value > self.high:
            raise ParameterError(f"parameter {name!r}={value!r} is out of range: {self.describe()}")
        return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def integer(low: int | None = None, high: int | None = None, doc: str = "") -> Spec:
    return Spec(int, low, high, doc=doc)


def number(low: float | None = None, high: float | None = None, doc: str = "") -> Spec:
    return Spec(float, low, high, doc=doc)


def choice(*choices: Any, doc: str = "") -> Spec:
    return Spec(object, choices=tuple(choices), doc=doc)


def choices_list(*choices: Any, doc: str = "", nonempty: bool = False, optional: bool = False) -> Spec:
    """A list whose items each come from ``choices`` (``optional``: or None)."""
    return Spec((list, tuple), choices=tuple(choices), doc=doc, nonempty=nonempty, optional=optional)


def text(optional: bool = False, doc: str = "") -> Spec:
    return Spec(str, optional=optional, doc=doc)


def flag(doc: str = "") -> Spec:
    return Spec(bool, doc=doc)


COMMON: dict[str, Spec] = {
    "profile": choice(*PROFILES, doc="smoke / quick / real / paper"),
    "seed": integer(0, 2**31 - 1, doc="seed for Python, NumPy and torch"),
    "device": choice("auto", "cpu", "cuda", doc="'auto' uses a GPU when present"),
    "deterministic": flag(doc="reproducible kernels (adlib.runtime.set_deterministic); on in the paper profile"),
    "data_root": text(optional=True, doc="real data folder; default: $ADLIB_DATA"),
    "results_dir": text(doc="where <chapter>.results.json is written"),
}


def check(namespace: Mapping[str, Any], names_before: Iterable[str],
          specs: Mapping[str, Spec]) -> dict[str, Any]:
    """Validate the parameters defined since ``names_before`` against ``specs``.

    Returns a plain dict of the parameters. Raises :class:`ParameterError` naming every
    valid parameter when a name is unknown, missing, or a value is out of range.
    """
    specs = {**COMMON, **specs}
    before = set(names_before)
    defined = {k: v for k, v in namespace.items()
               if k not in before and not k.startswith("_") and not callable(v)
               and type(v).__name__ != "module"}
    valid = "valid parameters: " + "; ".join(
        f"{n} ({s.describe()})" for n, s in sorted(specs.items()))
    unknown = sorted(set(defined) - set(specs))
    if unknown:
        raise ParameterError(f"unknown parameter(s) {', '.join(map(repr, unknown))}; {valid}")
    missing = sorted(set(specs) - set(defined))
    if missing:
        raise ParameterError(
            f"the parameters cell does not define {', '.join(map(repr, missing))}; {valid}")
    try:
        return {name: specs[name].validate(name, defined[name]) for name in sorted(specs)}
    except ParameterError as err:
        raise ParameterError(f"{err}; {valid}") from None


def resolve_data_root(data_root: str | None, profile: str | None = None) -> str | None:
    """The real-data folder: the parameter if given, else $ADLIB_DATA, else None.

    A folder that does not exist is an error, not a silent fall-back to embedded data; so is
    none at all under the ``real`` profile, whose point is the real data.
    """
    root = data_root or os.environ.get("ADLIB_DATA") or None
    if root is None and profile == "real":
        raise ParameterError("profile 'real' needs real data: set ADLIB_DATA (or data_root) to a folder of "
                             "MVTec-layout categories, e.g. make book PROFILE=real ADLIB_DATA=../shared/data")
    if root is not None and not os.path.isdir(root):
        source = "data_root" if data_root else "ADLIB_DATA"
        raise FileNotFoundError(
            f"{source}={root!r} is not a folder; point it at a folder holding the real data "
            f"(e.g. an MVTec-layout category), or unset it to use the embedded data")
    return root
