"""The consortium directory: membership versions, governance and feed keys, and their changes.

``directory.Consortium`` is the door (create, open, change, verify); the modules beside it each
hold one part of its work: the files (``layout``, ``key_files``), a new consortium
(``genesis``), the changes a version can carry (``organisation_changes``, ``feed_changes``),
signing and publishing a version (``governance``, ``publishing``), argument checks
(``arguments``) and what ``medtrace keys show`` prints (``summary``).
"""

from keys.consortium.directory import DEFAULT_GOVERNANCE, DEFAULT_THRESHOLD, Consortium
from keys.consortium.layout import ConsortiumError

__all__ = ["DEFAULT_GOVERNANCE", "DEFAULT_THRESHOLD", "Consortium", "ConsortiumError"]
