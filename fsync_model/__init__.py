"""fsync: feature-sync (DND, call forwarding) over SIP as formal state machines."""

__version__ = "0.1.0"

# Before any compiled module is imported: use them all, or (FSYNC_PURE=1, or sources changed
# since they were compiled) none (fsync_model/_compiled.py).
from fsync_model import _compiled

_compiled.choose()
