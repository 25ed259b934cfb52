"""The routes of product master data and import declarations (ADR 0020, docs/spec/customs.md),
a part of the one table in ``api/routes.py``."""

from __future__ import annotations

from api import declarations, products
from api.auth import LEDGER_READERS, READERS, WRITERS
from api.customs_schemas import (
    DECLARATION_SHOWN,
    DECLARATIONS,
    DECLARED,
    PRODUCT,
    PRODUCT_REGISTERED,
    PRODUCT_SHOWN,
)
from api.decisions import decision_routes
from api.route import Param, Route
from ledger.kinds import Kind
from node.replication.protocol import API_PREFIX


def customs_routes() -> list[Route]:
    """Register and read products; lodge and read declarations."""
    return [
        Route(
            f"{API_PREFIX}/products",
            "POST",
            "product_register",
            products.register,
            "Register (or supersede) a GTIN's product master data; the reference price is "
            "sealed (committed, not shown to other organisations).",
            "customs",
            WRITERS,
            request=PRODUCT,
            response=PRODUCT_REGISTERED,
            status=201,
            kind=Kind.PRODUCT,
        ),
        Route(
            f"{API_PREFIX}/products/<gtin>",
            "GET",
            "product",
            products.show,
            "A GTIN's product master data in force (404 unregistered_product when none).",
            "customs",
            READERS,
            response=PRODUCT_SHOWN,
            params=(Param("gtin", "path", {"type": "string"}, "GTIN-8/12/13/14."),),
        ),
        Route(
            f"{API_PREFIX}/declarations",
            "POST",
            "declarations_lodge",
            declarations.declare,
            "Lodge import declarations at this customs node, all or none; commercial fields "
            "are sealed in the signed entries.",
            "customs",
            WRITERS,
            request=DECLARATIONS,
            response=DECLARED,
            status=201,
            kind=Kind.DECLARE,
        ),
        Route(
            f"{API_PREFIX}/declarations/<path:reference>",
            "GET",
            "declaration",
            declarations.show,
            "A declaration held at this customs or regulator node; the commercial fields only "
            "where they are held in clear.",
            "customs",
            LEDGER_READERS,
            response=DECLARATION_SHOWN,
            params=(Param("reference", "path", {"type": "string"}, "The UCR."),),
        ),
        *decision_routes(),  # decisions, inspection outcomes, failed checks (ADR 0022)
    ]
