"""medtrace keys: encrypted key storage and the consortium directory (membership versions + keys).

``keys.keystore`` keeps Ed25519 private keys as passphrase-encrypted PKCS#8 files (mode 0600);
``keys.consortium.Consortium`` creates, changes and verifies a consortium directory;
``medtrace.cli.keys`` is ``medtrace keys``. See docs/spec/keys.md.
"""

from keys.consortium import Consortium, ConsortiumError
from keys.keystore import KeyStoreError, PassphraseUnavailable, WrongPassphrase

__all__ = [
    "Consortium",
    "ConsortiumError",
    "KeyStoreError",
    "PassphraseUnavailable",
    "WrongPassphrase",
]
