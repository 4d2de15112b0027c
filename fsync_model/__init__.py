"""fsync: feature-sync (DND, call forwarding) over SIP as formal state machines."""

__version__ = "0.1.0"
