"""camsentry's wire format: canonical JSON, signed documents, envelopes, topics, receipts.

Standard library and ``cryptography`` only, no I/O: the collector imports this package,
so it must stay free of paho, psutil and zeep (a test proves it).

Exceptions::

    WireError                 base; ``reason`` is a RejectReason the collector counts
    └── BodyError             a body or record that does not decode (``MALFORMED_BODY``)

Records (one encoder, one strict decoder each; unknown fields kept in ``extra``)::

    findings.Severity, FindingKind, Finding     the one severity scale and finding vocabulary
    inventory.DeviceRecord, InventoryBody       what a sweep learnt of one device
    flows.FlowFinding, FlowBody                 one aggregated unexpected (or allowed) flow
    health.HealthBody                           outbox, delivery, degradations, discovery, clock
    commands.Ack, AckOutcome, AckReason          a command's answer: outcome and its closed reasons
"""
