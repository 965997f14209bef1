"""Alert and recording rules as code: SLOs, components, the monitoring itself, wedding-day mode.

``python -m alerts build`` writes prometheus/rules/*.yml. The package reads metric names from
``exporter.catalogue`` only and never imports a probe.
"""
