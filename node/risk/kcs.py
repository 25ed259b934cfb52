"""The Korea Customs Service import-declaration files (``--format kcs``): one row per declared
item, 22 columns, the labels ``Fraud`` (0/1) and ``Critical Fraud`` (0/1/2) (arXiv 2208.02484;
../shared/testdata/kcs-customs-declarations/README.txt).

A file that is not such a table is refused in one line that says what was expected, before
anything is computed from it.
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt

#: The columns every file must have, as the published files spell them.
TEXT_COLUMNS = (
    "Declaration ID",
    "Date",
    "Office ID",
    "Process Type",
    "Import Type",
    "Import Use",
    "Payment Type",
    "Mode of Transport",
    "Declarant ID",
    "Importer ID",
    "Seller ID",
    "Courier ID",
    "HS6 Code",
    "Country of Departure",
    "Country of Origin",
    "Tax Type",
    "Country of Origin Indicator",
)
NUMBER_COLUMNS = ("Tax Rate", "Net Mass", "Item Price")
LABEL_COLUMNS = ("Fraud", "Critical Fraud")
FORMAT = "kcs"


class Label(StrEnum):
    """What the model learns to find: any fraud, or the critical kind only."""

    FRAUD = "fraud"  # ``Fraud`` = 1: the inspection found something wrong
    CRITICAL = "critical"  # ``Critical Fraud`` = 2: what the paper calls critical


class RiskInputError(ValueError):
    """A file, option or model directory the risk engine cannot use; the message is one line
    saying what was expected and what was found."""


@dataclass(frozen=True)
class Declarations:
    """Declared items, column by column (row ``i`` of every column is one item)."""

    text: dict[str, list[str]]
    numbers: dict[str, npt.NDArray[np.float64]]
    fraud: npt.NDArray[np.int8] | None
    critical: npt.NDArray[np.int8] | None
    digest: str  # sha256 over the files' bytes, in the order given

    def __len__(self) -> int:
        return len(self.text["Declaration ID"])

    def name(self, i: int) -> str:
        """Row ``i``'s declaration id."""
        return self.text["Declaration ID"][i]

    def row_number(self, i: int) -> int:
        """Row ``i``'s number in the file, 1 = the line after the header."""
        return i + 1

    def labels(self, label: Label) -> npt.NDArray[np.int8]:
        """The 0/1 target for ``label``; refused when the files carry no outcomes."""
        if self.fraud is None or self.critical is None:
            raise RiskInputError(
                f"expected the outcome columns {', '.join(LABEL_COLUMNS)} in the data, found none"
            )
        if label is Label.CRITICAL:
            critical: npt.NDArray[np.int8] = (self.critical == 2).astype(np.int8)
            return critical
        return self.fraud


def _number(text: str, column: str, where: str) -> float:
    try:
        value = float(text) if text.strip() else math.nan
    except ValueError:
        raise RiskInputError(
            f"{where}: expected a number in {column!r}, found {text[:40]!r}"
        ) from None
    if math.isinf(value):
        raise RiskInputError(
            f"{where}: expected a finite number in {column!r}, found {text[:40]!r}"
        )
    return value


def _label(text: str, column: str, where: str, allowed: tuple[str, ...]) -> int:
    if text.strip() not in allowed:
        raise RiskInputError(
            f"{where}: expected {' or '.join(allowed)} in {column!r}, found {text[:40]!r}"
        )
    return int(text)


def read(paths: Sequence[Path]) -> Declarations:
    """Every row of ``paths`` (CSV files of the KCS format, one header each), in order."""
    if not paths:
        raise RiskInputError("expected at least one --data file, found none")
    text: dict[str, list[str]] = {name: [] for name in TEXT_COLUMNS}
    numbers: dict[str, list[float]] = {name: [] for name in NUMBER_COLUMNS}
    fraud: list[int] = []
    critical: list[int] = []
    labelled: bool | None = None
    digest = hashlib.sha256()
    for path in paths:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise RiskInputError(f"{path}: expected a readable CSV file ({exc.strerror})") from None
        digest.update(hashlib.sha256(raw).digest())
        try:
            lines = raw.decode("utf-8-sig").splitlines()
        except UnicodeDecodeError:
            raise RiskInputError(f"{path}: expected a UTF-8 CSV file, found other bytes") from None
        reader = csv.DictReader(lines)
        header = reader.fieldnames or []
        missing = [name for name in (*TEXT_COLUMNS, *NUMBER_COLUMNS) if name not in header]
        if missing:
            shown = ", ".join(repr(name) for name in missing[:4])
            more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
            raise RiskInputError(
                f"{path}: expected a KCS declarations CSV (--format {FORMAT}); "
                f"missing column {shown}{more}"
            )
        has_labels = all(name in header for name in LABEL_COLUMNS)
        if labelled is not None and has_labels != labelled:
            raise RiskInputError(f"{path}: expected the same columns as the files before it")
        labelled = has_labels
        count = 0
        for line, row in enumerate(reader, start=2):
            where = f"{path}:{line}"
            if None in row or any(value is None for value in row.values()):
                raise RiskInputError(f"{where}: expected {len(header)} fields, found another count")
            for name in TEXT_COLUMNS:
                text[name].append(row[name].strip())
            for name in NUMBER_COLUMNS:
                numbers[name].append(_number(row[name], name, where))
            if has_labels:
                fraud.append(_label(row["Fraud"], "Fraud", where, ("0", "1")))
                critical.append(
                    _label(row["Critical Fraud"], "Critical Fraud", where, ("0", "1", "2"))
                )
            count += 1
        if count == 0:
            raise RiskInputError(f"{path}: expected declaration rows, found only a header")
    return Declarations(
        text=text,
        numbers={name: np.asarray(values, dtype=np.float64) for name, values in numbers.items()},
        fraud=np.asarray(fraud, dtype=np.int8) if labelled else None,
        critical=np.asarray(critical, dtype=np.int8) if labelled else None,
        digest=digest.hexdigest(),
    )
