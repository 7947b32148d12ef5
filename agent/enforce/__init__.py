"""Quarantine with nftables: render rules (pure), keep state across restarts, apply at the edge.

Exceptions::

    EnforceError        nft refused a ruleset, or the state file cannot be used
"""
