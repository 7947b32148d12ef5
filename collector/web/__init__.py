"""The web view: server-rendered pages over the collector's database, behind a login.

Modules::

    settings  [web] table of the collector config: listen address, TLS certificate
    limits    login rate limiting (pure, clock injected)
    app       the Flask application: sessions, CSRF, roles, pages, downloads, audit
    server    serve(config): cheroot WSGI server, TLS when not bound to loopback

It runs as its own process (``camsentry-collector web``), so nothing it does can stall ingest.
"""
