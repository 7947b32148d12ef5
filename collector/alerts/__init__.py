"""Alerts leave through a durable queue in the database, never from the ingest thread.

Modules::

    model     Alert and alerts_from_sync: what a policy pass changed (pure)
    enqueue   AlertEnqueuer: the policy pass writes queue rows, deduplicated, and wakes the worker
    queue     AlertQueue: the alert_queue table (pending, sent, dead, digested)
    worker    AlertWorker: its own thread; retries with capped exponential backoff; digests storms
    digest    a storm as one message, and the text forms (pure)
    sinks     Sink protocol, MqttSink, WebhookSink (HMAC-SHA256 signed); smtp, syslog: the others
    config    the [alerts] table
    build     the sinks a config names

Exceptions::

    DeliveryError   a sink could not deliver; the worker retries later
"""

from collector.alerts.model import ALERT_TOPIC_PREFIX, Alert, alert_topic, alerts_from_sync

__all__ = ["ALERT_TOPIC_PREFIX", "Alert", "alert_topic", "alerts_from_sync"]
