"""Segmentation policy: the file (``model``), the pure engine (``engine``), store adapters
(``facts``), signed commands out (``commanding``), one service pass (``runner``) and the CLI
handlers (``cli``). Violations and their lifecycle live in ``collector.violations``.

Entry points the collector service and CLI use::

    load_policy(path) -> Policy                 model; Policy.version = "sha256:<hex>"
    reload_policy(path, current) -> Policy      model; SIGHUP, keeps current on errors
    check_policy_file(path) -> list[str]        model; "file: key: problem" lines
    evaluate(Facts, Policy) -> Evaluation       engine; pure
    PolicyRunner(store, ViolationStore, ...)    runner; run_once() per interval
    add_policy_commands(subparsers, ctx)        cli
"""
