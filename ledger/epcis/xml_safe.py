"""Parsing untrusted XML safely: the bytes of an EPCIS XML document, handed in (no file, no
network), into an element tree.

Entities are never expanded and nothing is fetched; a document type declaration that declares
anything (entities, elements) or names an external DTD is refused (before libxml2 reads it, and
again from what it parsed), and so is a tree deeper than ``MAX_DEPTH`` or bytes beyond the
caller's limit. A bare ``<!DOCTYPE name>``, as some of GS1's examples carry, is fine.
"""

from __future__ import annotations

import re

from lxml import etree

from ledger.errors import EpcisError

#: How deep elements may nest (the JSON capture path allows 64 levels).
MAX_DEPTH = 64


class XmlRefused(EpcisError):
    """Not a safe, well-formed EPCIS 2.0 XML document."""


# -- parsing -------------------------------------------------------------------------------------


def parse(data: bytes, max_bytes: int) -> etree._Element:
    """The root element of ``data``, parsed without entities, DTDs or network."""
    if len(data) > max_bytes:
        raise XmlRefused(
            f"expected an XML document of at most {max_bytes} bytes, found {len(data)}"
        )
    _check_doctype(data)
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else "?"
        message = str(exc.msg or exc).split(", line ")[0]
        raise XmlRefused(
            f"expected well-formed XML, found an error at line {line}: {message}"
        ) from None
    if root is None:
        raise XmlRefused("expected an XML document, found no root element")
    info = root.getroottree().docinfo
    if info.system_url or info.public_id:
        raise XmlRefused(
            f"expected no external DTD (nothing is fetched), found a document type declaration "
            f"naming {info.system_url or info.public_id!r}"
        )
    dtd = info.internalDTD
    if dtd is not None:
        entities = [str(e.name) for e in dtd.iterentities()]
        if entities:
            raise XmlRefused(
                "expected no entity declarations (XML entities are refused), found "
                f"<!ENTITY {entities[0]}> in the document type declaration"
            )
        if any(True for _ in dtd.iterelements()):
            raise XmlRefused(
                "expected a document type declaration without declarations, found element "
                "declarations"
            )
    for element in root.iter():
        if isinstance(element, etree._Entity):
            raise XmlRefused(f"expected no entity references, found &{element.name};")
    _check_depth(root)
    return root


_DOCTYPE = re.compile(
    rb"<!DOCTYPE\s+[^\s\[>]+\s*(?P<external>SYSTEM|PUBLIC)?[^\[>]*(?P<subset>\[)?"
)


def _check_doctype(data: bytes) -> None:
    """Refuse, before libxml2 reads it, a document type declaration with entity or other
    declarations or naming an external DTD (the checks after parsing catch other encodings)."""
    found = _DOCTYPE.search(data)
    if found is None:
        return
    subset = b""
    if found.group("subset"):
        end = data.find(b"]", found.end())
        subset = data[found.end() : end if end >= 0 else len(data)]
    entity = re.search(rb"<!ENTITY\s+(%\s+)?([^\s>]+)", subset)
    if entity is not None:
        name = entity.group(2).decode("utf-8", "replace")[:40]
        raise XmlRefused(
            "expected no entity declarations (XML entities are refused), found "
            f"<!ENTITY {name}> in the document type declaration"
        )
    if found.group("external"):
        raise XmlRefused(
            "expected no external DTD (nothing is fetched), found a document type declaration "
            f"with {found.group('external').decode()}"
        )
    if b"<!" in subset:
        raise XmlRefused(
            "expected a document type declaration without declarations (<!DOCTYPE name>), "
            "found declarations in it"
        )


def _check_depth(root: etree._Element) -> None:
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise XmlRefused(f"expected XML nested at most {MAX_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in element)


__all__ = ["MAX_DEPTH", "XmlRefused", "parse"]
