"""CBV 2.0 vocabularies and medtrace's extension terms, as EPCIS JSON-LD spells them.

A CBV value may be written as a bare word (``shipping``), as a GS1 Web Vocabulary URI
(``https://ref.gs1.org/cbv/BizStep-shipping``) or as an EPCIS 1.x URN
(``urn:epcglobal:cbv:bizstep:shipping``); ``expand`` turns each into the URI and ``compact``
back into the bare word. medtrace's own terms (docs/spec/vocabulary.md) live in the namespace
``urn:medtrace:voc:`` with the prefix ``mt:``; the node serves their JSON-LD context at
``/epcis/context/medtrace.jsonld``.

The word lists are the CBV 2.0 enumerations (the same words the EPCIS 2.0 JSON Schema lists);
tests hold them against GS1's published schema.
"""

from __future__ import annotations

from enum import StrEnum

CBV = "https://ref.gs1.org/cbv/"
GS1_VOC = "https://gs1.org/voc/"
#: medtrace's extension vocabulary (prefix ``mt``).
MT = "urn:medtrace:voc:"
MT_PREFIX = "mt"
EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
#: The URLs by which documents refer to the standard EPCIS 2.0 context.
EPCIS_CONTEXTS = frozenset(
    {
        EPCIS_CONTEXT,
        "https://ref.gs1.org/standards/epcis/epcis-context.jsonld",
        "https://gs1.github.io/EPCIS/epcis-context.jsonld",
    }
)
#: Prefixes the standard EPCIS 2.0 context defines.
STANDARD_PREFIXES: dict[str, str] = {
    "epcis": "https://ref.gs1.org/epcis/",
    "cbv": CBV,
    "cbvmda": "urn:epcglobal:cbv:mda:",
    "gs1": GS1_VOC,
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "dcterms": "http://purl.org/dc/terms/",
}


def _split(text: str) -> frozenset[str]:
    return frozenset(text.split())


class Vocab(StrEnum):
    BIZ_STEP = "bizStep"
    DISPOSITION = "disposition"
    BIZ_TRANSACTION_TYPE = "bizTransactionType"
    SOURCE_DEST_TYPE = "sourceDestType"
    ERROR_REASON = "errorReason"
    MEASUREMENT_TYPE = "measurementType"
    SENSOR_ALERT_TYPE = "sensorAlertType"
    COMPONENT = "component"


BIZ_STEPS = _split("""accepting arriving assembling collecting commissioning consigning creating_class_instance
    cycle_counting decommissioning departing destroying disassembling dispensing encoding
    entering_exiting holding inspecting installing killing loading other packing picking
    receiving removing repackaging repairing replacing reserving retail_selling shipping
    staging_outbound stock_taking stocking storing transporting unloading unpacking
    void_shipping sensor_reporting sampling""")
DISPOSITIONS = _split("""active container_closed damaged destroyed dispensed disposed encoded expired in_progress
    in_transit inactive no_pedigree_match non_sellable_other partially_dispensed recalled
    reserved retail_sold returned sellable_accessible sellable_not_accessible stolen unknown
    available completeness_verified completeness_inferred conformant container_open
    mismatch_instance mismatch_class mismatch_quantity needs_replacement non_conformant
    unavailable""")
BIZ_TRANSACTION_TYPES = _split(
    "bol cert desadv inv pedigree po poc prodorder recadv rma testprd testres upevt"
)
SOURCE_DEST_TYPES = frozenset({"owning_party", "possessing_party", "location"})
ERROR_REASONS = frozenset({"did_not_occur", "incorrect_data"})
COMPONENTS = _split("""x y z axial_distance azimuth height spherical_radius polar_angle elevation_angle
    easting northing latitude longitude altitude""")
SENSOR_ALERT_TYPES = frozenset({"ALARM_CONDITION", "ERROR_CONDITION"})
MEASUREMENT_TYPES = _split("""AbsoluteHumidity AbsorbedDose AbsorbedDoseRate Acceleration Radioactivity Altitude
    AmountOfSubstance AmountOfSubstancePerUnitVolume Angle AngularAcceleration AngularMomentum
    AngularVelocity Area Capacitance Conductance Conductivity Count Density Dimensionless
    DoseEquivalent DoseEquivalentRate DynamicViscosity ElectricCharge ElectricCurrent
    ElectricCurrentDensity ElectricFieldStrength Energy Exposure Force Frequency Illuminance
    Inductance Irradiance KinematicViscosity Length LinearMomentum Luminance LuminousFlux
    LuminousIntensity MagneticFlux MagneticFluxDensity MagneticVectorPotential Mass
    MassConcentration MassFlowRate MassPerAreaTime MemoryCapacity MolalityOfSolute MolarEnergy
    MolarMass MolarVolume Power Pressure RadiantFlux RadiantIntensity RelativeHumidity
    Resistance Resistivity SolidAngle SpecificVolume Speed SurfaceDensity SurfaceTension
    Temperature Time Torque Voltage Volume VolumeFlowRate VolumeFraction VolumetricFlux
    Wavenumber""")

#: vocabulary -> (bare words, URI prefix of a word, EPCIS 1.x URN prefix)
VOCABULARIES: dict[Vocab, tuple[frozenset[str], str, str | None]] = {
    Vocab.BIZ_STEP: (BIZ_STEPS, CBV + "BizStep-", "urn:epcglobal:cbv:bizstep:"),
    Vocab.DISPOSITION: (DISPOSITIONS, CBV + "Disp-", "urn:epcglobal:cbv:disp:"),
    Vocab.BIZ_TRANSACTION_TYPE: (BIZ_TRANSACTION_TYPES, CBV + "BTT-", "urn:epcglobal:cbv:btt:"),
    Vocab.SOURCE_DEST_TYPE: (SOURCE_DEST_TYPES, CBV + "SDT-", "urn:epcglobal:cbv:sdt:"),
    Vocab.ERROR_REASON: (ERROR_REASONS, CBV + "ER-", "urn:epcglobal:cbv:er:"),
    Vocab.MEASUREMENT_TYPE: (MEASUREMENT_TYPES, GS1_VOC, None),
    Vocab.SENSOR_ALERT_TYPE: (SENSOR_ALERT_TYPES, GS1_VOC, None),
    Vocab.COMPONENT: (COMPONENTS, CBV + "Comp-", None),
}

#: EPCIS 1.x CBV URN prefixes -> GS1 Web Vocabulary prefixes (CBV 2.0 section 8.9 rule).
URN_TO_WEB = {urn: base for _, (_, base, urn) in VOCABULARIES.items() if urn is not None} | {
    "urn:epcglobal:cbv:er:": CBV + "ER-"
}


def words(vocab: Vocab) -> frozenset[str]:
    return VOCABULARIES[vocab][0]


def expand(value: str, vocab: Vocab) -> str:
    """The URI of a vocabulary value given as bare word, URI, URN or ``mt:``/``cbv:`` CURIE."""
    bare, base, urn = VOCABULARIES[vocab]
    if value in bare:
        return base + value
    if urn is not None and value.startswith(urn):
        return base + value[len(urn) :]
    if value.startswith(f"{MT_PREFIX}:"):
        return MT + value[len(MT_PREFIX) + 1 :]
    for prefix in ("cbv", "gs1"):
        if value.startswith(f"{prefix}:"):
            return STANDARD_PREFIXES[prefix] + value[len(prefix) + 1 :]
    return value


def compact(uri: str, vocab: Vocab) -> str:
    """The bare word for a CBV URI (``mt:`` CURIE for a medtrace term); other URIs unchanged."""
    bare, base, _ = VOCABULARIES[vocab]
    if uri.startswith(base) and uri[len(base) :] in bare:
        return uri[len(base) :]
    if uri.startswith(MT):
        return f"{MT_PREFIX}:{uri[len(MT) :]}"
    return uri


def is_known(value: str, vocab: Vocab) -> bool:
    """A CBV 2.0 term (in any spelling) or a medtrace extension term."""
    bare, base, _ = VOCABULARIES[vocab]
    uri = expand(value, vocab)
    if uri.startswith(MT):
        return uri[len(MT) :] in MEDTRACE_TERMS.get(vocab, {})
    return uri.startswith(base) and uri[len(base) :] in bare


#: medtrace's extension terms: vocabulary -> term -> definition (docs/spec/vocabulary.md).
MEDTRACE_TERMS: dict[Vocab, dict[str, str]] = {
    Vocab.BIZ_STEP: {
        "exporting": "Packs leave the market the consortium covers (EU FMD: exported); the "
        "pack is decommissioned.",
        "undoing": "A decommissioning (dispense, export, sample) is reverted within 10 days "
        "by the feed that made it (EU FMD undo).",
        "releasing": "A locked pack is released for supply again.",
    },
    Vocab.DISPOSITION: {
        "exported": "Decommissioned: exported out of the market (EU FMD 'exported').",
        "sample": "Decommissioned: taken as a sample (EU FMD 'sample').",
        "free_sample": "Decommissioned: supplied as a free sample (EU FMD 'free sample').",
        "locked": "Not to be supplied pending investigation; reversible (EU FMD 'locked').",
        "quarantined": "Held or detained by customs as suspect (DSCSA 'quarantine').",
        "withdrawn": "The product (every lot of the GTIN) is withdrawn from the market.",
    },
}

#: medtrace's event extension properties (``mt:`` CURIEs in an event).
MEDTRACE_PROPERTIES: dict[str, str] = {
    "decision": "Customs decision of an inspecting event: release, hold or detain.",
    "reasons": "Customs reasons for a hold or detain (strings).",
    "destination": "The member organisation (its id) goods are shipped or returned to.",
    "entry": "The id of the signed ledger entry this event was rendered from.",
    "feed": "The feed (organisation/site) that signed that entry.",
    "kind": "The ledger kind of that entry (docs/spec/lifecycle.md).",
}


def medtrace_context() -> dict[str, object]:
    """The JSON-LD context of medtrace's extension terms (served by every node)."""
    terms: dict[str, object] = {MT_PREFIX: MT}
    for name in MEDTRACE_PROPERTIES:
        terms[f"{MT_PREFIX}:{name}"] = {"@id": MT + name}
    graph = [
        {
            "@id": f"{MT_PREFIX}:{term}",
            "@type": f"cbv:{_KIND_OF[vocab]}",
            "rdfs:label": term,
            "rdfs:comment": text,
        }
        for vocab, table in MEDTRACE_TERMS.items()
        for term, text in table.items()
    ] + [
        {
            "@id": f"{MT_PREFIX}:{name}",
            "@type": "rdf:Property",
            "rdfs:label": name,
            "rdfs:comment": text,
        }
        for name, text in MEDTRACE_PROPERTIES.items()
    ]
    return {
        "@context": {
            **terms,
            "cbv": CBV,
            "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
            "rdfs": STANDARD_PREFIXES["rdfs"],
        },
        "@graph": graph,
    }


_KIND_OF = {Vocab.BIZ_STEP: "BizStep", Vocab.DISPOSITION: "Disposition"}
