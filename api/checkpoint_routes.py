"""The routes of feed checkpoints, cosignatures and proofs (docs/spec/proofs.md, ADR 0018),
a part of the one table in ``api/routes.py``."""

from __future__ import annotations

from api import peer_endpoints
from api.auth import HINTERS, READERS, REPLICATORS
from api.route import Guard, Param, Route
from api.schemas import (
    CHECKPOINTS,
    CONSISTENCY_PROOF,
    COSIGNATURES,
    COSIGNATURES_TAKEN,
    INCLUSION_PROOF,
    ORG_ID,
)
from node.replication.protocol import MAX_JSON_INT
from node.replication.witnessing import (
    CHECKPOINT_RULE,
    CHECKPOINTS_PATH,
    CONSISTENCY_RULE,
    COSIGNATURES_PATH,
    PROOF_RULE,
)

#: Who may read a feed's checkpoint and proofs: scanners, auditors, operators and peers.
CHECKPOINT_READERS = READERS | REPLICATORS


def checkpoint_routes() -> list[Route]:
    """Feed checkpoints, cosignatures and proofs (docs/spec/proofs.md, ADR 0018)."""
    feed = (
        Param("org", "path", {"type": "string", "pattern": ORG_ID}, "Organisation id."),
        Param("site", "path", {"type": "string", "pattern": ORG_ID}, "Site name."),
    )

    def count(name: str, what: str) -> Param:
        return Param(
            name, "query", {"type": "integer", "minimum": 0, "maximum": MAX_JSON_INT}, what
        )

    return [
        Route(
            CHECKPOINTS_PATH,
            "GET",
            "replication_checkpoints",
            peer_endpoints.checkpoints,
            "The newest checkpoint of every feed held, with every cosignature gathered, and the "
            "notes of every checkpoint fork held.",
            "replication",
            REPLICATORS,
            guard=Guard.OPEN,  # peers ask every round; no verifier may call it
            response=CHECKPOINTS,
        ),
        Route(
            COSIGNATURES_PATH,
            "POST",
            "replication_cosignatures",
            peer_endpoints.cosignatures,
            "Checkpoint notes with cosignatures for this node to verify and keep.",
            "replication",
            HINTERS,
            request=COSIGNATURES,
            guard=Guard.OPEN,  # a witness sends back what it cosigned; no verifier may call it
            response=COSIGNATURES_TAKEN,
        ),
        Route(
            CHECKPOINT_RULE,
            "GET",
            "feed_checkpoint",
            peer_endpoints.checkpoint,
            "The feed's newest checkpoint as a C2SP signed note, with its cosignatures.",
            "verification",
            CHECKPOINT_READERS,
            media_type="text/plain",
            response={"type": "string"},
            params=feed,
            problems=(404,),
        ),
        Route(
            PROOF_RULE,
            "GET",
            "feed_inclusion_proof",
            peer_endpoints.proof,
            "An RFC 9162 inclusion proof of the feed's entry at seq in the tree of size.",
            "verification",
            CHECKPOINT_READERS,
            response=INCLUSION_PROOF,
            params=(
                *feed,
                count("seq", "The entry's sequence number."),
                count("size", "Tree size (default: the newest checkpoint's)."),
            ),
            problems=(404,),
        ),
        Route(
            CONSISTENCY_RULE,
            "GET",
            "feed_consistency_proof",
            peer_endpoints.consistency,
            "An RFC 9162 consistency proof between two sizes of the feed's tree.",
            "verification",
            CHECKPOINT_READERS,
            response=CONSISTENCY_PROOF,
            params=(
                *feed,
                count("from", "The smaller tree size (at least 1)."),
                count("to", "The larger tree size (default: the newest checkpoint's)."),
            ),
            problems=(404,),
        ),
    ]
