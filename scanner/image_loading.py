"""Opening an image for the barcode decoders, within limits a hostile upload cannot stretch.

A PNG of a few kilobytes can declare 7000 x 7000 pixels: decoding it would take seconds and
hundreds of megabytes. So the pixel count is read from the file's header (Pillow's
``Image.open`` reads nothing more) and checked against ``MAX_PIXELS`` before a single pixel is
decoded. An image within the cap is decoded to upright 8-bit grayscale (a JPEG directly so, at
a reduced scale when it is large) and downscaled until its longest side is at most
``DECODE_SIDE``: that is what the decoders see first. The full-resolution image is kept for one
retry only when it is at most ``FULL_RESOLUTION_PIXELS`` (a 12 MP phone photo).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from io import BytesIO

from PIL import Image, ImageOps, UnidentifiedImageError

#: Largest image read, in pixels, checked from the header before any pixel is decoded. Every
#: phone camera's default photo fits (12 MP: 4032 x 3024, 4080 x 3072; 16 MP: 4608 x 3456); the
#: 48 to 200 MP full-resolution modes do not (their files mostly exceed the 10 MiB upload limit
#: anyway). Decoding one costs at most about 110 MB (a 16 MP PNG with transparency: 64 MB of
#: RGBA, then gray and alpha); a phone's JPEG decodes to gray directly, 16 MB.
MAX_PIXELS = 16_000_000
#: Longest side of the image the decoders see first; larger images are downscaled to it. A
#: pack's code fills a few hundred pixels of a phone photo, and keeps enough pixels per module
#: at this size, while one decoder pass stays around a tenth of a second.
DECODE_SIDE = 2_400
#: A downscaled image is tried at full resolution too (one retry) only up to this many pixels:
#: a 12 MP phone photo (4080 x 3072 = 12.5 MP), whose small codes may need every pixel.
FULL_RESOLUTION_PIXELS = 12_600_000
#: The formats read (Pillow knows more, some of which call out to other programs).
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")

IMAGE = "image"
TOO_LARGE = "image_too_large"


class ImageError(Exception):
    """The bytes are not an image that can be decoded (``code`` "image"), or one too large to
    decode (``code`` "image_too_large")."""

    def __init__(self, message: str, code: str = IMAGE) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class LoadedImage:
    """An upright grayscale image ready for the decoders."""

    image: Image.Image  # longest side at most DECODE_SIDE
    size: tuple[int, int]  # the size of the file's image, upright
    full: Image.Image | None = None  # the full resolution, when downscaled and small enough

    @property
    def downscaled(self) -> bool:
        return self.image.size != self.size


def too_large(width: int, height: int) -> ImageError:
    return ImageError(
        f"the image is {width} x {height} pixels ({width * height / 1e6:.1f} megapixels); at "
        f"most {MAX_PIXELS / 1e6:g} megapixels are read: take the photo at the camera's usual "
        "resolution, or crop it to the code",
        TOO_LARGE,
    )


def open_image(data: bytes) -> Image.Image:
    """The image in ``data``, its header read and its size checked; no pixel decoded yet."""
    if not data:
        raise ImageError("the image file is empty")
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 megapixels; the stricter check below names the size.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError:
        raise ImageError(
            f"the image declares more pixels than Pillow opens at all; at most "
            f"{MAX_PIXELS / 1e6:g} megapixels are read",
            TOO_LARGE,
        ) from None
    except UnidentifiedImageError:
        raise ImageError(
            "the file is not an image that can be read (expected PNG, JPEG or WebP)"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"the image file is damaged or cut short: {exc}") from None
    width, height = opened.size
    if width * height > MAX_PIXELS:
        raise too_large(width, height)
    return opened


def load_image(data: bytes) -> LoadedImage:
    """Decode an image within the limits above into what the decoders see."""
    opened = open_image(data)
    size = opened.size
    keep_full = size[0] * size[1] <= FULL_RESOLUTION_PIXELS
    if opened.format in ("JPEG", "MPO"):  # MPO: a phone's JPEG with a second picture
        # libjpeg decodes to grayscale directly, and at 1/2, 1/4 or 1/8 scale when the
        # full resolution will not be used: far less memory and time than RGB at full size.
        opened.draft("L", size if keep_full else _bounded(size, DECODE_SIDE))
    try:
        opened.load()
        ImageOps.exif_transpose(opened, in_place=True)
    except Image.DecompressionBombError:
        raise too_large(*size) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"the image file is damaged or cut short: {exc}") from None
    image = gray(opened)
    turned = (image.width > image.height) != (size[0] > size[1])  # EXIF rotated it by 90°
    return prepare(image, (size[1], size[0]) if turned else size, keep_full=keep_full)


def prepare(image: Image.Image, size: tuple[int, int], *, keep_full: bool) -> LoadedImage:
    """Downscale a grayscale ``image`` to at most ``DECODE_SIDE``, keeping the full resolution
    for a retry when ``keep_full``."""
    if max(image.size) <= DECODE_SIDE:
        return LoadedImage(image, size)
    small = image.resize(
        _bounded(image.size, DECODE_SIDE), Image.Resampling.LANCZOS, reducing_gap=2.0
    )
    return LoadedImage(small, size, image if keep_full else None)


def _bounded(size: tuple[int, int], side: int) -> tuple[int, int]:
    factor = side / max(size)
    return max(1, round(size[0] * factor)), max(1, round(size[1] * factor))


def gray(image: Image.Image) -> Image.Image:
    """8-bit grayscale, transparency flattened onto white."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # gray and alpha at 2 bytes a pixel, rather than three more RGBA copies of the image
        paletted = image.mode in ("P", "PA")
        shade, alpha = (image.convert("RGBA") if paletted else image).convert("LA").split()
        return Image.composite(shade, Image.new("L", image.size, 255), alpha)
    return image.convert("L") if image.mode != "L" else image
