"""camsentry's wire format: canonical JSON, signed documents, envelopes, topics, receipts.

Standard library and ``cryptography`` only, no I/O: the collector imports this package,
so it must stay free of paho, psutil and zeep (a test proves it).

Exceptions::

    WireError                 base; ``reason`` is a RejectReason the collector counts
"""
