"""The wedding-day drill: one command that rehearses a Saturday under load, breaks something on
purpose, and reports whether the platform and the pager held.

``python -m drill`` (installed as ``wedsync-drill``) runs a k6 profile against the target,
injects the named fault at the given time, watches Prometheus, Alertmanager and a webhook
receiver of its own throughout, and writes a report (JSON, and HTML with PNG charts) whose first
line is READY or NOT READY with the reasons. See docs/drill.md.

Modules, one job each: ``faults`` (what each fault is and what it should set off),
``injection`` (breaking and mending), ``own_stack`` (the stack the drill starts itself),
``apis`` (Prometheus and Alertmanager over HTTP), ``notifications`` (what Alertmanager sent),
``watch`` (polling during the run), ``timing`` (interval profiles and the promised time to
page), ``analysis`` (observations -> findings), ``verdict`` (the rules), ``charts``,
``report`` (JSON and HTML), ``run`` (the timeline), ``cli``.
"""
