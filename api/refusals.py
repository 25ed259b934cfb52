"""A refused step as its caller sees it: the rule it broke, never another party's business.

The lifecycle's messages are written for alerts that every member derives alike: they name
the custodian ("found it held by dist/wh"), the feed that dispensed a pack first, the entries
that prove it. A write's refusal goes to one organisation's operator, who may be probing serials
it does not hold (issue 13, finding 5: a real serial held elsewhere was answered with its
custodian). So a refusal about a pack or container that is neither held by the caller's
organisation nor on its way to it says only that it is not in this organisation's custody:
no other feed or organisation in ``detail``, no ``evidence``. A regulator, who acts on packs
without holding them, keeps the rule's code, with the same silence about who holds the pack.

The API's own refusal of a kind the feed may not write is written here too, once, in words
(``detail`` lists kinds, not Python reprs of them).
"""

from __future__ import annotations

from api.context import NodeContext
from api.problems import Problem, refusal
from ledger.alerts import Code
from ledger.errors import IdentifierError, KindNotAllowed, LedgerError, RuleViolation
from ledger.identifiers import SubjectType, parse_subject
from ledger.kinds import Kind, Role
from ledger.state import ContainerState, PackState

#: Refusals that name the caller's own business (what it commissioned, what does not exist,
#: its own GTINs), whoever holds the subject now: left as they are.
_ABOUT_THE_CALLER = frozenset(
    {
        Code.DUPLICATE_COMMISSION.value,
        Code.FOREIGN_GTIN.value,
        Code.UNKNOWN_PACK.value,
        Code.UNKNOWN_CONTAINER.value,
        Code.MALFORMED.value,
    }
)


def kind_not_allowed(ctx: NodeContext, kind: Kind) -> Problem:
    """403: this node's feed may not write ``kind`` (the membership says which it may)."""
    spec = ctx.membership.feed(ctx.feed)
    allowed = ", ".join(sorted(k.value for k in spec.kinds))
    return Problem(
        "kind-not-allowed",
        f"expected a kind feed {ctx.feed} may write ({allowed}), found {kind.value}",
        extra={"code": "unauthorised_kind"},
    )


def _held_elsewhere(ctx: NodeContext, uri: str) -> str | None:
    """``"pack"`` or ``"container"`` when ``uri`` is one this node knows and neither the
    caller's organisation holds it nor is it in transit to it; else ``None``."""
    try:
        subject = parse_subject(uri)
    except IdentifierError:
        return None
    state: PackState | ContainerState | None
    with ctx.store.state_view() as view:
        if subject.type is SubjectType.PACK:
            state = view.get_packs([uri]).get(uri)
            what = "pack"
        elif subject.type is SubjectType.CONTAINER:
            state = view.get_container(uri)
            what = "container"
        else:
            return None
    if state is None:
        return None
    org = ctx.config.org
    if state.custodian.split("/", 1)[0] == org or state.destination == org:
        return None
    return what


def _outside_custody(ctx: NodeContext, exc: RuleViolation, what: str) -> Problem:
    org = ctx.config.org
    if ctx.membership.organisations[org].role is Role.REGULATOR:
        code = str(exc.code)
        return Problem(
            "rule-violation",
            f"expected {what} {exc.subject} to pass the rule {code}, found it breaks it "
            f"(it is not in {org}'s custody; this node does not name who holds it)",
            status=409,
            extra={"code": code, "evidence": []},
        )
    return Problem(
        "rule-violation",
        f"expected {what} {exc.subject} in the custody of {org}, found it outside {org}'s "
        "custody (this node does not name who holds it)",
        status=409,
        extra={"code": Code.CUSTODY_VIOLATION.value, "evidence": []},
    )


def refused(ctx: NodeContext, exc: LedgerError) -> Problem:
    """``exc``, a step the ledger refused, as the problem its caller gets."""
    if isinstance(exc, KindNotAllowed) and exc.kind is not None:
        return kind_not_allowed(ctx, exc.kind)
    if (
        isinstance(exc, RuleViolation)
        and exc.subject is not None
        and exc.code not in _ABOUT_THE_CALLER
        and (what := _held_elsewhere(ctx, exc.subject)) is not None
    ):
        return _outside_custody(ctx, exc, what)
    return refusal(exc)


__all__ = ["kind_not_allowed", "refused"]
