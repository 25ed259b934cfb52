"""Validation of EPCIS 2.0 JSON / JSON-LD documents, written for medtrace (no schema file).

``document.validate_document`` checks what the EPCIS 2.0 JSON Schema checks (structure, types,
the members each event type requires, CBV 2.0 vocabularies as bare words or URIs, RFC 3339
date-times, URI syntax, the ``anyOf`` rules such as "an ObjectEvent names EPCs, quantities or
sensor data") and raises ``checker.EpcisInvalid`` naming the JSON path of the first problem,
e.g. ``$.epcisBody.eventList[2].bizStep``. The tests hold it against GS1's schema on every
published example and on documents broken on purpose: both accept or both reject.

With ``strict=True`` (what capture uses) it checks a little more than the schema does, each
a rule the CBV states in words: an EPC URN must be well formed (``urn:epc:id:sgtin:…`` with the
digits the Tag Data Standard requires), a GS1 Web Vocabulary URI must name a CBV 2.0 term that
exists, an ``mt:`` term must be one medtrace publishes (docs/spec/vocabulary.md).

One module per part of the document: ``document`` (the whole, header and body),
``master_data``, ``events`` (one event), ``members`` (what each member of an event holds),
``sensors``; ``checker`` has the checks they are built from, ``formats`` the string formats.
"""
