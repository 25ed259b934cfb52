"""Capture: each event of a valid EPCIS document becomes one step for the submitting
organisation's feed (ADR 0009).

* an event that is **in medtrace's scope** (it names a pack or lot whose GTIN is under a member's
  company prefix, or a container the ledger knows or a member's SSCC) **and whose business step
  the lifecycle models** becomes that kind (``commission``, ``ship``, ``dispense`` …), with the
  subjects, refs and body the lifecycle reads, and goes through the rules strictly;
* every other event, and every error declaration, is recorded as an ``event`` entry: a signed
  fact with no lifecycle effect. Its subjects are the identifiers of it the ledger can name.

Either way the body carries ``epcis``: the event as captured (JSON text, numbers exact), the
document's JSON-LD context (JSON text) and the CBV 2.0 event hash computed at capture, so the
query interface returns the event as it came and anyone can recompute its hash from the entry.

``plan`` is the entry point; ``scope`` and ``kinds`` decide the path of an event, ``goods``,
``commission`` and ``custody`` read what each kind needs, ``reader`` is how an event is read.
"""
