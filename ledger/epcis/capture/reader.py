"""What capture reads: the event (members by name, extensions by IRI, whatever prefix the
document gave them) and the ledger state it plans against; and how it refuses an event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledger.alerts import Code
from ledger.epcis.vocab import MT, STANDARD_PREFIXES, Vocab, expand
from ledger.errors import EpcisError
from ledger.state import ContainerState, PackState

_CBVMDA = STANDARD_PREFIXES["cbvmda"]


class MappingRefused(EpcisError):
    """An event in medtrace's scope that cannot become the entry its business step means:
    ``code`` the alert code of the rule, ``path`` the JSON path of the member at fault."""

    def __init__(self, code: Code, message: str, path: str) -> None:
        super().__init__(message)
        self.code = code
        self.path = path


class LedgerView(Protocol):
    """What planning reads from the node's state (``ledger.state.StateView`` has it)."""

    def get_packs(self, uris: Sequence[str]) -> dict[str, PackState]: ...
    def get_container(self, uri: str) -> ContainerState | None: ...


@dataclass
class EventReader:
    event: Mapping[str, Any]
    path: str
    prefixes: Mapping[str, str] = field(default_factory=dict)

    def text(self, key: str) -> str | None:
        value = self.event.get(key)
        return value if isinstance(value, str) else None

    def term(self, key: str, vocab: Vocab) -> str | None:
        value = self.text(key)
        return expand(value, vocab) if value is not None else None

    def ext(self, name: str, namespace: str = MT) -> Any:
        """An extension member by its full IRI, whatever prefix the document gave it."""
        for key, value in self.event.items():
            prefix, sep, local = key.partition(":")
            if sep and self.prefixes.get(prefix) == namespace and local == name:
                return value
            if key == namespace + name:
                return value
        return None

    def ilmd(self, name: str) -> Any:
        ilmd = self.event.get("ilmd")
        if not isinstance(ilmd, Mapping):
            return None
        for key, value in ilmd.items():
            prefix, sep, local = key.partition(":")
            if sep and self.prefixes.get(prefix) == _CBVMDA and local == name:
                return value
            if key == _CBVMDA + name:
                return value
        return None

    def ids(self, *keys: str) -> list[str]:
        found: list[str] = []
        for key in keys:
            value = self.event.get(key)
            if isinstance(value, str):
                found.append(value)
            elif isinstance(value, list):
                found.extend(v for v in value if isinstance(v, str))
        return found

    def classes(self, *keys: str) -> list[str]:
        found: list[str] = []
        for key in keys:
            for element in self.event.get(key) or []:
                if isinstance(element, Mapping) and isinstance(element.get("epcClass"), str):
                    found.append(element["epcClass"])
        return found

    def refuse(self, message: str, member: str = "", code: Code = Code.MALFORMED) -> MappingRefused:
        path = self.path + (f".{member}" if member else "")
        return MappingRefused(code, message, path)


def location(value: Any) -> dict[str, str] | None:
    """A read point or business location as an entry keeps it: its ``id`` only."""
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return {"id": value["id"]}
    return None
