"""Quarantine with nftables: plan rules (pure), keep state across restarts, apply at the edge and
read the table back before calling a command applied.

Exceptions::

    EnforceError        nft could not apply or list a ruleset, or the state file cannot be used;
                        ``reason`` (an ``AckReason``) is what the ack says
"""
