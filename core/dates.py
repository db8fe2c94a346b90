"""Inventory dates read as dates, for temporal (earlier -> later) splits.

Why: dates used to be compared as text, so '15/06/2021' sorted before '2020-01-01' and an empty
date silently joined the training period. Here every value is parsed; the formats found are
reported; empty, unparseable and ambiguous values are refused with the features named, because a
landslide on the wrong side of the split is leakage (or a lost test case) that no metric shows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from .errors import InvalidInputError

_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ].*)?$")
_DMY = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?:[T ].*)?$")
_YEAR = re.compile(r"^(\d{4})(?:\.0+)?$")


@dataclass(frozen=True)
class When:
    """A parsed date; ``year_only`` when the value gave a year and nothing finer."""

    date: dt.date
    year_only: bool = False


@dataclass
class DateSplit:
    """Which features fall on or after the split date, and what was read to decide it."""

    held: list[bool]
    formats: Counter = field(default_factory=Counter)

    def describe(self) -> str:
        """The formats found, for the log ("2 formats: YYYY-MM-DD (120), year (6)")."""
        return ", ".join(f"{k} ({n})" for k, n in self.formats.most_common())


def _parse(value: object, day_first: bool | None) -> tuple[When | None, str]:
    """(parsed value or None, format name); ``day_first`` resolves NN/NN/YYYY (None: undecided)."""
    if value is None:
        return None, "empty"
    if isinstance(value, dt.datetime):
        return When(value.date()), "date"
    if isinstance(value, dt.date):
        return When(value), "date"
    if isinstance(value, bool):
        return None, "unreadable"
    if isinstance(value, int | float):
        if value != value or not float(value).is_integer() or not 1000 <= value <= 9999:  # NaN or not a year
            return None, "unreadable"
        return When(dt.date(int(value), 1, 1), True), "year"
    text = str(value).strip()
    if not text or text.upper() in ("NULL", "NONE", "NAN"):
        return None, "empty"
    try:
        if m := _ISO.match(text):
            return When(dt.date(int(m[1]), int(m[2]), int(m[3]))), "YYYY-MM-DD"
        if m := _DMY.match(text):
            a, b, y = int(m[1]), int(m[2]), int(m[3])
            if day_first is None:
                return None, "ambiguous"
            d, mo = (a, b) if day_first else (b, a)
            return When(dt.date(y, mo, d)), "DD/MM/YYYY" if day_first else "MM/DD/YYYY"
        if m := _YEAR.match(text):
            return When(dt.date(int(m[1]), 1, 1), True), "year"
    except ValueError:
        return None, "unreadable"
    return None, "unreadable"


def _day_first(values: Sequence[object]) -> bool | None:
    """Day-first, month-first or undecided for the NN/NN/YYYY values of one field (one order per field)."""
    first_big = second_big = False
    for v in values:
        if isinstance(v, str) and (m := _DMY.match(v.strip())):
            first_big |= int(m[1]) > 12
            second_big |= int(m[2]) > 12
    if first_big and second_big:
        raise InvalidInputError(
            "The date field mixes day/month/year and month/day/year values (both 25/12/2020 and 12/25/2020 "
            "kinds): write the dates as YYYY-MM-DD."
        )
    return True if first_big else False if second_big else None


def parse_split_date(text: str) -> When:
    """The split date given by the user (YYYY-MM-DD, DD/MM/YYYY with a day above 12, or a year)."""
    when, fmt = _parse(text, _day_first([text]))
    if when is None:
        raise InvalidInputError(
            f"The split date '{text}' is not a date: give it as YYYY-MM-DD (e.g. 2021-06-15) or as a year (2021)."
        )
    return when


def split_by_date(values: Sequence[object], split: str, labels: Sequence[str] | None = None) -> DateSplit:
    """For each feature's date value: is it on or after ``split`` (held out)?

    Refused, naming up to five features (``labels``, default "feature i"): empty dates,
    unreadable ones, NN/NN/YYYY values whose order no value in the field decides, and year-only
    values in the split's own year when the split date is finer than a year (they could be on
    either side).
    """
    cut = parse_split_date(split)
    order = _day_first(values)
    names = list(labels) if labels is not None else [f"feature {i + 1}" for i in range(len(values))]
    held: list[bool] = []
    formats: Counter = Counter()
    bad: dict[str, list[str]] = {}
    for v, name in zip(values, names):
        when, fmt = _parse(v, order)
        formats[fmt] += 1
        if when is None:
            bad.setdefault(fmt, []).append(f"{name} ({v!r})")
            held.append(False)
            continue
        if when.year_only or cut.year_only:
            if when.date.year == cut.date.year and not (cut.year_only or cut.date == dt.date(cut.date.year, 1, 1)):
                bad.setdefault("year only, in the split year", []).append(f"{name} ({v!r})")
                held.append(False)
                continue
            held.append(when.date.year >= cut.date.year)
        else:
            held.append(when.date >= cut.date)
    if bad:
        advice = {
            "empty": "give them a date, or leave them out with the presence field or a filter",
            "unreadable": "write dates as YYYY-MM-DD or a year",
            "ambiguous": "no value in the field has a day above 12, so day/month and month/day cannot be told "
            "apart: write the dates as YYYY-MM-DD",
            "year only, in the split year": "they could fall on either side of the split: give the full date, "
            "or split on a year",
        }
        parts = [
            f"{len(items)} {kind} date(s), e.g. {', '.join(items[:5])}: {advice[kind]}" for kind, items in bad.items()
        ]
        raise InvalidInputError("The temporal split cannot place every landslide. " + "; ".join(parts) + ".")
    return DateSplit(held, formats)
