"""The collector's store: one interface, SQLite by default (PostgreSQL for scale).

Exceptions::

    StoreError          the database refused or failed an operation
"""
