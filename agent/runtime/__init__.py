"""What the agent and the collector both run: clock, logging set-up, the TOML config reader,
the MQTT adapter (the only paho import) and its config table, sd_notify, CLI error reporting,
and the project's base exceptions.

Nothing here knows cameras, flows or nftables: the collector imports this package and the wire
contract, and a test proves that it loads nothing else of the agent.
"""
