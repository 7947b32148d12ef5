"""Egress watch: every outbound connection from cameras and the recorder, against the site allowlist.

Two sources of flows share one shape (``FlowEvent``): conntrack NEW/DESTROY events for traffic
routed through this host (``conntrack.py``) and polled host sockets with their owning process
(``procnet.py``, ``sockets.py``). DNS answers seen on the camera-side interface name the
destinations (``dns.py``); the allowlist and the vendor cloud table classify them
(``allowlist.py``, ``clouds.py``); ``aggregate.py`` folds them into bounded findings and
``watcher.py`` runs it all. Parsers are pure; I/O sits in small edge classes.

Errors: configuration problems raise ``agent.runtime.errors.ConfigError``. Nothing a peer or the kernel
sends raises: bad lines and packets are counted and skipped; a source that cannot run
(no CAP_NET_ADMIN, no conntrack tool, no CAP_NET_RAW) becomes a health finding.
"""
