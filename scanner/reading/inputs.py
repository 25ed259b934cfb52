"""One input given to a scanner on a command line: an image file or the scanned text, and what
was read from it (pack codes, the SSCCs of cases, or the scan error)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from scanner.decode import decode_image
from scanner.image_loading import ImageError
from scanner.reading.images import budget_spent, no_pack_error, sort_codes
from scanner.reading.scan_data import ScanData, ScanError
from scanner.reading.text import read_container, read_text

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"})


class UnreadableInput(Exception):
    """An image file that is missing or cannot be read (an I/O problem, not a scan error)."""


@dataclass
class ScannedInput:
    """One input: an image file or a text, and what was read from it."""

    label: str
    packs: list[ScanData] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    error: ScanError | None = None

    @property
    def unreadable(self) -> bool:
        """Nothing but a scan error came of it."""
        return self.error is not None and not self.packs and not self.containers


def read_input(target: str) -> ScannedInput:
    """``target`` is an image file's path if such a file exists, else the scanned text."""
    path = Path(target)
    if path.is_file():
        return read_image_file(path)
    if path.suffix.lower() in IMAGE_SUFFIXES and "://" not in target:
        raise UnreadableInput(f"{target}: no such image file")
    scanned = ScannedInput("text")
    try:
        scanned.packs = [read_text(target)]
    except ScanError as exc:
        sscc = read_container(target) if exc.code == "container" else None
        if sscc is not None:
            scanned.containers = [sscc]
        else:
            scanned.error = exc
    return scanned


def read_image_file(path: Path) -> ScannedInput:
    """Every code in the image at ``path``, sorted into packs and cases."""
    scanned = ScannedInput(str(path))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableInput(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    try:
        report = decode_image(data)
    except ImageError as exc:
        scanned.error = ScanError(str(exc), exc.code)
        return scanned
    codes = sort_codes(report.codes, budget=budget_spent(report))
    scanned.packs, scanned.containers = codes.packs, codes.containers
    if not codes.packs and not codes.containers:
        scanned.error = no_pack_error(codes)
    return scanned


def folder_images(folder: Path) -> list[Path]:
    """The image files in ``folder`` (batch mode), by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
