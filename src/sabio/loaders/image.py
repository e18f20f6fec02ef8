"""Images as documents (PNG, JPEG, TIFF with its pages, WebP, BMP): their text by OCR.

Each frame (a multi-page TIFF's pages) is stood up by its EXIF orientation, laid on
white where it is transparent (a screenshot's transparent background would turn black),
enlarged twice when small (Tesseract reads letters best at 20-30 pixels high; a
screenshot's are about 12), and read by :mod:`sabio.loaders.ocr`. An image smaller than
:data:`MIN_AREA` pixels is a logo or an icon, not a document (a mail's signature logo
is skipped so); one larger than :data:`MAX_PIXELS` is refused before it is decoded.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import PurePosixPath

from PIL import Image, ImageOps, UnidentifiedImageError

from sabio.errors import CorruptFileError, EmptyDocumentError, NeedsOCRError
from sabio.loaders import DEFAULT_OCR, Blob, LoadedDocument, OcrOptions, Section, register_loader
from sabio.loaders.ocr import recognize_pages

MIN_WORDS = 3
"""Words a picture inside a document must hold to be indexed (a diagram's stray letters
are not)."""
MIN_AREA = 40_000
"""Pixels (200 x 200) an image needs to be read: smaller ones are logos and icons."""
MAX_PIXELS = 80_000_000
"""Pixels a frame may have (a 40-megapixel photo has half); more is a decompression bomb."""
MAX_FRAMES = 2_000
SMALL = 1600
"""An image whose longer side is shorter than this is enlarged twice before OCR."""
LARGEST = 5000
"""The longer side of a frame as read (larger ones are reduced to it)."""


@register_loader(".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")
def load_image(blob: Blob) -> LoadedDocument:
    source = blob.path if blob.path is not None else io.BytesIO(blob.read())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source)
    except (UnidentifiedImageError, Image.DecompressionBombWarning, OSError) as exc:
        raise CorruptFileError(f"not a readable image ({type(exc).__name__})") from exc
    with image:
        frames = min(getattr(image, "n_frames", 1), MAX_FRAMES)
        if image.width * image.height > MAX_PIXELS:
            raise CorruptFileError(
                f"the image is {image.width} x {image.height} pixels, too large to read"
            )
        if image.width * image.height < MIN_AREA:
            raise EmptyDocumentError(
                f"the image is {image.width} x {image.height} pixels: an icon or a logo, "
                "too small to hold text worth reading"
            )
        try:
            results = recognize_pages(
                range(1, frames + 1), lambda n: _frame(image, n), blob.ocr, blob.progress
            )
        except (OSError, SyntaxError, ValueError) as exc:  # a truncated or damaged frame
            raise CorruptFileError(f"the image is damaged ({exc})") from exc
    if not results.pages:
        raise NeedsOCRError(f"the image's text needs OCR, which could not run: {results.problem}")
    sections = [
        Section(page.text, page=number if frames > 1 else None)
        for number, page in sorted(results.pages.items())
        if page.text
    ]
    if not sections:
        raise EmptyDocumentError("OCR found no words in the image")
    metadata = results.metadata()
    if left := [n for n in range(1, frames + 1) if n not in results.pages]:
        metadata["needs_ocr_pages"] = ",".join(map(str, left))
    return LoadedDocument(sections=sections, title="", metadata=metadata, pages=frames)


def embedded_image_sections(
    pictures: Sequence[tuple[str, bytes, int | None]], ocr: OcrOptions = DEFAULT_OCR
) -> list[Section]:
    """The text of the pictures embedded in a document, as (name, bytes, page): a section
    "Image: name" for each that carries text, at least :data:`MIN_AREA` pixels and read
    with confidence and :data:`MIN_WORDS` words; the others (photos, logos, charts) and
    the unreadable ones are left out without a word."""
    readable = [(name, data, page) for name, data, page in pictures if _worth_reading(data)]
    if not readable:
        return []
    results = recognize_pages(
        range(1, len(readable) + 1), lambda n: _decoded(readable[n - 1][1]), ocr
    )
    sections = []
    for number, read in sorted(results.pages.items()):
        if read.low_confidence or len(read.text.split()) < MIN_WORDS:
            continue
        name, _, page = readable[number - 1]
        sections.append(Section(read.text, page=page, heading=f"Image: {PurePosixPath(name).name}"))
    return sections


def _worth_reading(data: bytes) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                return MIN_AREA <= image.width * image.height <= MAX_PIXELS
    except (UnidentifiedImageError, Image.DecompressionBombWarning, OSError, ValueError):
        return False


def _decoded(data: bytes) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return prepare(image)
    except (OSError, SyntaxError, ValueError):  # damaged after its header: read as blank
        return Image.new("L", (64, 64), 255)


def _frame(image: Image.Image, number: int) -> Image.Image:
    image.seek(number - 1)
    return prepare(image)


def prepare(frame: Image.Image) -> Image.Image:
    """A frame as OCR reads it: upright, on white, grayscale, at a size it reads well."""
    upright = ImageOps.exif_transpose(frame) or frame
    if upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info:
        rgba = upright.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        upright = Image.alpha_composite(white, rgba)
    gray = upright.convert("L")
    longest = max(gray.size)
    if longest < SMALL:
        return gray.resize((gray.width * 2, gray.height * 2), Image.Resampling.LANCZOS)
    if longest > LARGEST:
        gray.thumbnail((LARGEST, LARGEST), Image.Resampling.LANCZOS)
    return gray
