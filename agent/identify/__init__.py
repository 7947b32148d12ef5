"""Who made a camera, what it runs, and what that firmware is known for.

``tables`` loads the sourced data files in ``agent/data``; ``model`` holds what identification
reads and says (signals, evidence, the verdict); ``scopes`` and ``macs`` read ONVIF scopes and
every MAC a device gives away; ``classify`` weighs the signals into maker, brand, confidence,
restricted verdict and evidence; ``firmware`` parses versions by the maker's scheme and
matches ranges; ``vulns`` matches firmware against the vulnerability table; ``evaluate``
scores the classifier on known devices. All pure.
"""
