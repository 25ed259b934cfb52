"""Decode + parse time per image, per decoder (p50 / p95), for ``bench/`` and for people.

::

    python -m scanner.timing                       # generated labels, clean and degraded
    python -m scanner.timing demo-out/labels ../shared/testdata/zxing-cpp-samples --json

Each image is read ``--repeat`` times by zxing-cpp alone, by ZBar (pyzbar) alone, and by both as
``read_image`` does (fast path first, then the retries); the time covers loading the file,
decoding and parsing. An image a decoder cannot read (ZBar has no DataMatrix reader) still
counts: that is the time it takes to give up, retries included.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageFilter

from scanner.decode import DECODERS, PYZBAR, ZXING, decode_image
from scanner.labels import PackLabel, label_image, symbol
from scanner.reading import ScanError
from scanner.reading.images import sort_codes

SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MODES: dict[str, tuple[str, ...]] = {ZXING: (ZXING,), PYZBAR: (PYZBAR,), "both": DECODERS}


@dataclass
class Timing:
    mode: str
    seconds: list[float] = field(default_factory=list)
    read: int = 0  # images where at least one pack code was read
    images: int = 0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.seconds)
        if not ordered:
            return 0.0
        index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        return ordered[index]

    def to_json(self) -> dict[str, float | int | str]:
        return {
            "mode": self.mode,
            "images": self.images,
            "read": self.read,
            "p50_ms": round(self.percentile(0.5) * 1000, 2),
            "p95_ms": round(self.percentile(0.95) * 1000, 2),
            "mean_ms": round(statistics.fmean(self.seconds) * 1000, 2) if self.seconds else 0.0,
        }


def sample_images(out: Path) -> list[Path]:
    """Labels as printed and as phones photograph them: both symbologies, 6 variants each."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, fmt in enumerate(("datamatrix", "qr")):
        label = PackLabel("09506000134352", "A2611", "2028-10-31", f"4TQ2M8ZK1V9{index}")
        clean = label_image(label, fmt)
        small = Image.new("L", (900, 700), 200)
        small.paste(symbol(label, fmt).resize((100, 100), Image.Resampling.LANCZOS), (400, 300))
        variants = {
            "clean": clean,
            "rot90": clean.rotate(90, expand=True),
            "rot15": clean.rotate(
                15, expand=True, fillcolor=255, resample=Image.Resampling.BICUBIC
            ),
            "small100": small,
            "blur": clean.filter(ImageFilter.GaussianBlur(2)),
        }
        for name, image in variants.items():
            path = out / f"{fmt}-{name}.png"
            image.save(path)
            paths.append(path)
        buffer = io.BytesIO()
        clean.convert("RGB").save(buffer, format="JPEG", quality=30)
        jpeg = out / f"{fmt}-jpeg30.jpg"
        jpeg.write_bytes(buffer.getvalue())
        paths.append(jpeg)
    return paths


def images_in(folders: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for folder in folders:
        if folder.is_file():
            found.append(folder)
        else:
            found.extend(sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES))
    return found


def measure(paths: Sequence[Path], *, repeat: int = 3) -> list[Timing]:
    timings = []
    for mode, decoders in MODES.items():
        timing = Timing(mode, images=len(paths))
        for path in paths:
            data = path.read_bytes()
            found = False
            for _ in range(repeat):
                start = time.perf_counter()
                report = decode_image(data, decoders=decoders)
                try:
                    found = bool(sort_codes(report.codes).packs)
                except ScanError:  # pragma: no cover - sort_codes collects, never raises
                    found = False
                timing.seconds.append(time.perf_counter() - start)
            timing.read += int(found)
        timings.append(timing)
    return timings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scanner.timing", description=__doc__)
    parser.add_argument("paths", nargs="*", type=Path, help="Images or folders of images.")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        paths = images_in(args.paths) if args.paths else sample_images(Path(tmp))
        decode_image(paths[0].read_bytes())  # warm up (library loading)
        timings = measure(paths, repeat=args.repeat)
    if args.json:
        sys.stdout.write(json.dumps([t.to_json() for t in timings]) + "\n")
        return 0
    sys.stdout.write(f"{len(paths)} images, {args.repeat} reads each (decode + parse)\n")
    sys.stdout.write(f"{'decoder':<10} {'read':>9} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}\n")
    for t in timings:
        row = t.to_json()
        sys.stdout.write(
            f"{t.mode:<10} {f'{t.read}/{t.images}':>9} {row['p50_ms']:>8} {row['p95_ms']:>8} "
            f"{row['mean_ms']:>8}\n"
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
