"""``camsentry-collector web``: the web view on cheroot, TLS when bound beyond loopback."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import structlog
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from agent.runtime.clock import SystemClock
from agent.runtime.logs import configure_logging
from collector.config import CollectorConfig
from collector.policy.model import Policy, default_policy, load_policy
from collector.store import open_store
from collector.web.app import CommandSender, WebContext, create_app
from collector.web.settings import WebSettings, check_exposure, parse_listen

log = structlog.get_logger("camsentry.collector.web")
THREADS = 8
# How often the main thread looks for a stop request or a serving thread that died.
STOP_POLL_S = 0.5
# cheroot's own shutdown_timeout bounds its workers; this bounds the accept loop's thread.
SHUTDOWN_S = 10.0


def _sender(config: CollectorConfig) -> CommandSender | None:
    """Quarantine from the web needs the collector's signing key; without it the button is absent."""
    if not config.key_path.exists():
        return None
    from collector.cli import policy_context

    return policy_context(config).send_command


def serve(config: CollectorConfig, *, listen: str | None = None) -> int:
    configure_logging(config.log_level, config.log_format)  # type: ignore[arg-type]
    settings = config.web
    if listen is not None:
        host, port = parse_listen(listen)
        settings = WebSettings(host, port, settings.certificate, settings.private_key)
    check_exposure(settings, config.file)
    store = open_store(config.database, password_file=config.database_password_file)

    def policy() -> Policy:
        return load_policy(config.policy_path) if config.policy_path else default_policy()

    app = create_app(
        WebContext(
            store=store,
            policy=policy,
            clock=SystemClock(),
            send_command=_sender(config),
            silent_after_s=config.silent_after_s,
        )
    )
    server = wsgi.Server((settings.host, settings.port), app, numthreads=THREADS)
    if settings.certificate is not None and settings.private_key is not None:
        server.ssl_adapter = BuiltinSSLAdapter(str(settings.certificate), str(settings.private_key))

    # The signal only asks; the main thread stops the server. KeyboardInterrupt raised at whatever
    # point cheroot's accept loop had reached once left the process hanging in stop().
    stop_requested = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.prepare()
    scheme = "https" if settings.tls else "http"
    host, port = server.bind_addr[0], server.bind_addr[1]  # port 0 means the kernel chose one
    log.info("web_listening", url=f"{scheme}://{host}:{port}/")
    print(f"{scheme}://{host}:{port}/", flush=True)
    serving = threading.Thread(target=server.serve, name="web-serve", daemon=True)
    serving.start()
    try:
        while not stop_requested.wait(STOP_POLL_S) and serving.is_alive():
            pass
    finally:
        server.stop()
        serving.join(SHUTDOWN_S)
        store.close()
    if not stop_requested.is_set():
        log.error("web_server_died")
        return 1
    log.info("web_stopped")
    return 0
