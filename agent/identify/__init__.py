"""Who made a camera, what it runs, and what that firmware is known for.

``tables`` loads the sourced data files in ``agent/data``; ``firmware`` parses vendor version
strings and matches ranges; ``classify`` weighs independent signals into maker, brand,
confidence and evidence; ``vulns`` matches firmware against the vulnerability table. All pure.
"""
