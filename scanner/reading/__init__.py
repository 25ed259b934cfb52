"""Reading what a pack carries: keyboard-wedge text, GS1 Digital Link URIs and barcode images.

This is the scanner's one entry point for input (the CLI and the web scan page both call it)::

    read_text("]d201095060001343521728103110A2611\\x1d21ABC123")  -> ScanData
    read_image(png_bytes)                                        -> [ScanData, …]

Everything GS1 (the Application Identifier table, value formats, check digits, dates, Digital
Link key qualifiers) comes from ``biip``; this package adds what a counter needs on top: one
specific sentence for every problem (``ScanError.hint``), recovery of group separators that a
keyboard wedge dropped when only one reading is possible, and the detection of keyboard-layout
swaps. A syntax problem is always a ``ScanError``, never a verdict: a bad scan is not a
falsification.

The modules, from the bottom up: ``scan_data`` (what a scan yields), ``element_values`` (one
AI's value checked), ``element_strings`` and ``digital_link`` (the two GS1 syntaxes),
``keyboard_layout``, ``pack_code`` (a pack identifier required), then ``text`` and ``images``
(the entry points) and ``inputs`` (a file or a text given on a command line).
"""

from scanner.reading.images import read_image
from scanner.reading.scan_data import ScanData, ScanError
from scanner.reading.text import read_container, read_text

__all__ = ["ScanData", "ScanError", "read_container", "read_image", "read_text"]
