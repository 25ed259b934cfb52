"""A declaration's score and lane (issue 16; ADR 0027; docs/spec/risk.md "Lanes").

The score is the sum of the weights of the indicators that fired. The lane: **red** (physical
inspection) when the score reaches ``lanes.red`` or an indicator of ``redWhen`` fired,
**yellow** (documents) from ``lanes.yellow``, **blue** (post-clearance audit) below yellow when
an indicator of ``blueWhen`` fired, else **green** (release). A green declaration is then drawn
at random at ``random.rate``: the draw is ``HMAC-SHA256(seed, reference) < rate`` (the first 8
bytes as a fraction of 2**64), with a seed whose SHA-256 (``random.commitment``) was published
before and which is revealed after, so a trader cannot predict a draw and an auditor can replay
every one. Same facts and configuration, same lane and reasons.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from node.risk.indicators import BY_CODE, Facts, Finding, Settings, evaluate

#: Evidence items shown per reason; the rest are counted (a pallet may hold 10,000 clones).
EVIDENCE_SHOWN = 20


class Lane(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    BLUE = "blue"


class RiskConfigError(ValueError):
    """The ``risk`` configuration is not usable; the message is one line naming the field."""


@dataclass(frozen=True)
class RandomSelection:
    rate: float = 0.0
    seed: bytes = b""
    commitment: str = ""
    lane: Lane = Lane.RED

    def draw(self, reference: str) -> float:
        return draw(self.seed, reference)

    def selects(self, reference: str) -> bool:
        return bool(self.seed) and self.rate > 0 and self.draw(reference) < self.rate


@dataclass(frozen=True)
class RiskConfig:
    red: int = 60
    yellow: int = 25
    red_when: frozenset[str] = frozenset({"R1", "R2", "R10"})
    blue_when: frozenset[str] = frozenset({"R6", "R7"})
    weights: Mapping[str, int] = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)
    random: RandomSelection = field(default_factory=RandomSelection)
    #: ``risk.model``: a model directory of ``medtrace risk train --format medtrace`` (relative
    #: to the node's data directory); ``None``: no learned score
    model: str | None = None
    #: ``risk.learnedRed``: a learned score at or above it makes the lane red (reason ``ML``)
    learned_red: float | None = None


@dataclass(frozen=True)
class Learned:
    """The learned score of a declaration (docs/spec/risk.md "The learned score at the node"):
    the probability that an inspection finds it falsified, the model that gave it and the
    features that moved it most."""

    score: float
    model: str
    contributions: tuple[Mapping[str, Any], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "model": self.model,
            "contributions": [dict(c) for c in self.contributions],
        }


def commitment(seed: bytes) -> str:
    """What is published before the seed is used: SHA-256 of the seed, hex."""
    return hashlib.sha256(seed).hexdigest()


def new_seed() -> bytes:
    return secrets.token_bytes(32)


def draw(seed: bytes, reference: str) -> float:
    """The draw of one declaration, in [0, 1): the first 8 bytes of HMAC-SHA256(seed, ref)."""
    mac = hmac.new(seed, reference.encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(mac[:8], "big") / 2**64


def _codes(raw: Any, name: str) -> frozenset[str]:
    if not isinstance(raw, list) or any(c not in BY_CODE for c in raw):
        raise RiskConfigError(f"risk.{name}: expected a list of indicator codes R1 to R11")
    return frozenset(raw)


def _settings(raw: Mapping[str, Any]) -> Settings:
    base = Settings()
    try:
        return Settings(
            price_ratio=Decimal(str(raw.get("priceRatio", base.price_ratio))),
            mass_tolerance=Decimal(str(raw.get("massTolerance", base.mass_tolerance))),
            window_days=int(raw.get("windowDays", base.window_days)),
            window_parcels=int(raw.get("windowParcels", base.window_parcels)),
            short_description=int(raw.get("shortDescription", base.short_description)),
            otc_atc=tuple(str(c) for c in raw.get("otcAtc", base.otc_atc)),
            countries={str(k): str(v) for k, v in dict(raw.get("countries", {})).items()},
        )
    except (ValueError, ArithmeticError):
        raise RiskConfigError(
            "risk.indicators: expected priceRatio and massTolerance as decimals, "
            "windowDays, windowParcels and shortDescription as whole numbers"
        ) from None


def _random(raw: Mapping[str, Any]) -> RandomSelection:
    rate = raw.get("rate", 0.0)
    if not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise RiskConfigError(f"risk.random.rate: expected a fraction from 0 to 1, found {rate!r}")
    try:
        seed = bytes.fromhex(str(raw.get("seed", "")))
    except ValueError:
        raise RiskConfigError("risk.random.seed: expected the seed as hex") from None
    committed = str(raw.get("commitment", ""))
    if seed and committed != commitment(seed):
        raise RiskConfigError(
            "risk.random.commitment: expected the SHA-256 of the seed published before it is "
            "used (`medtrace risk seed` prints both)"
        )
    if rate and not seed:
        raise RiskConfigError("risk.random.seed: expected a seed when the rate is above 0")
    try:
        lane = Lane(raw.get("lane", Lane.RED.value))
    except ValueError:
        raise RiskConfigError("risk.random.lane: expected yellow, red or blue") from None
    return RandomSelection(float(rate), seed, committed, lane)


def load_config(raw: Mapping[str, Any] | None) -> RiskConfig:
    """The ``risk`` section of node.json (every key optional; defaults in ``RiskConfig``)."""
    raw = raw or {}
    lanes = raw.get("lanes", {})
    base = RiskConfig()
    red, yellow = lanes.get("red", base.red), lanes.get("yellow", base.yellow)
    if not (isinstance(red, int) and isinstance(yellow, int) and 0 < yellow <= red):
        raise RiskConfigError("risk.lanes: expected whole numbers with 0 < yellow <= red")
    weights = raw.get("weights", {})
    if not isinstance(weights, dict) or any(
        c not in BY_CODE or not isinstance(w, int) or w < 0 for c, w in weights.items()
    ):
        raise RiskConfigError("risk.weights: expected {code: whole number >= 0} for R1 to R11")
    model = raw.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise RiskConfigError(
            "risk.model: expected the path of a model directory made by "
            "`medtrace risk train --format medtrace`"
        )
    learned_red = raw.get("learnedRed")
    if learned_red is not None:
        if isinstance(learned_red, bool) or not isinstance(learned_red, int | float):
            learned_red = -1
        if not 0 < learned_red <= 1:
            raise RiskConfigError(
                f"risk.learnedRed: expected a probability above 0 and at most 1, found "
                f"{raw.get('learnedRed')!r}"
            )
        if model is None:
            raise RiskConfigError("risk.learnedRed: expected risk.model beside it")
    return RiskConfig(
        red=red,
        yellow=yellow,
        red_when=_codes(raw["redWhen"], "redWhen") if "redWhen" in raw else base.red_when,
        blue_when=_codes(raw["blueWhen"], "blueWhen") if "blueWhen" in raw else base.blue_when,
        weights=dict(weights),
        settings=_settings(raw.get("indicators", {})),
        random=_random(raw.get("random", {})),
        model=model,
        learned_red=None if learned_red is None else float(learned_red),
    )


@dataclass(frozen=True)
class Assessment:
    reference: str
    score: int
    lane: Lane
    reasons: tuple[Finding, ...]
    unevaluated: tuple[Finding, ...]
    selected: bool
    draw: float | None
    config: RiskConfig
    learned: Learned | None = None
    #: the learned score reached ``risk.learnedRed``: the lane is red, reason ``ML``
    learned_red: bool = False

    def to_json(self) -> dict[str, Any]:
        reasons = [_reason(f) for f in self.reasons]
        if self.learned_red and self.learned is not None:
            reasons.append(
                {
                    "code": "ML",
                    "name": "learned_score",
                    "weight": 0,
                    "rationale": "The score learned from past inspection outcomes reached risk.learnedRed.",
                    "evidence": [{"score": self.learned.score, "threshold": self.config.learned_red,
                                  "model": self.learned.model}],
                }
            )  # fmt: skip
        if self.selected:
            reasons.append(
                {
                    "code": "random",
                    "name": "random_selection",
                    "weight": 0,
                    "rationale": "Drawn at random so that no trader can count on a green lane.",
                    "evidence": [{"draw": self.draw, "rate": self.config.random.rate,
                                  "commitment": self.config.random.commitment}],
                }
            )  # fmt: skip
        answer: dict[str, Any] = {
            "score": self.score,
            "lane": self.lane.value,
            "reasons": reasons if self.lane is not Lane.GREEN or self.reasons else [],
            "unevaluated": [
                {"code": f.code, "name": f.name, "evidence": [dict(e) for e in f.evidence]}
                for f in self.unevaluated
            ],
            "random": {
                "selected": self.selected,
                "rate": self.config.random.rate,
                "commitment": self.config.random.commitment or None,
            },
        }
        if self.learned is not None:  # only where risk.model is configured
            answer["learned"] = self.learned.to_json()
        return answer


def _reason(f: Finding) -> dict[str, Any]:
    shown = [dict(e) for e in f.evidence[:EVIDENCE_SHOWN]]
    reason = {"code": f.code, "name": f.name, "weight": f.weight, "rationale": f.rationale,
              "evidence": shown}  # fmt: skip
    if len(f.evidence) > EVIDENCE_SHOWN:
        reason["more"] = len(f.evidence) - EVIDENCE_SHOWN
    return reason


def lane_of(score: int, codes: set[str], config: RiskConfig) -> Lane:
    """The lane of a score and the codes that fired, before the random draw."""
    if score >= config.red or codes & config.red_when:
        return Lane.RED
    if score >= config.yellow:
        return Lane.YELLOW
    if codes & config.blue_when:
        return Lane.BLUE
    return Lane.GREEN


def assess(facts: Facts, config: RiskConfig) -> Assessment:
    findings = evaluate(facts, config.settings, config.weights)
    return assessed(facts.reference, findings, config)


def assessed(
    reference: str,
    findings: Sequence[Finding],
    config: RiskConfig,
    learned: Learned | None = None,
) -> Assessment:
    """The lane of the rules' findings; then red when the learned score reaches
    ``risk.learnedRed``; then the random draw, which only raises a green lane."""
    reasons = tuple(f for f in findings if f.fired)
    unevaluated = tuple(f for f in findings if not f.evaluated)
    score = sum(f.weight for f in reasons)
    lane = lane_of(score, {f.code for f in reasons}, config)
    learned_red = (
        learned is not None
        and config.learned_red is not None
        and learned.score >= config.learned_red
    )
    if learned_red:
        lane = Lane.RED
    selection = config.random
    value = selection.draw(reference) if selection.seed else None
    selected = selection.selects(reference)
    if selected and lane is Lane.GREEN:
        lane = selection.lane
    return Assessment(
        reference, score, lane, reasons, unevaluated, selected, value, config, learned, learned_red
    )
