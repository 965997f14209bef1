"""The probe interface, as the probers import it (defined a layer down, in
``exporter.probe_types``, so the scheduler, recording and database code need not import the
probes package)."""

from exporter.probe_types import Probe, ProbeError, ProbeOutcome, Reason, Status

__all__ = ["Probe", "ProbeError", "ProbeOutcome", "Reason", "Status"]
