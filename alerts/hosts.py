"""The platform's hosts: CPU, memory and disk of the machines node_exporter or Supabase's
Metrics API report (the database host first: on hosted Supabase that is what the Metrics API
describes).

Every selector names the host jobs (``alerts.settings.HOST_JOBS``): a node_exporter that some
other job scrapes is nobody's request to be paged about its machine.
"""

from __future__ import annotations

from alerts.model import Alert, Recording, Timing
from alerts.settings import HOST_SELECTOR

HOST_CPU = "wedsync:host_cpu:ratio_rate5m"
HOST_MEMORY_AVAILABLE = "wedsync:host_memory_available:ratio"
HOST_FILESYSTEM_AVAILABLE = "wedsync:host_filesystem_available:ratio"
# The platform brief's scaling trigger: a host's CPU above 80%.
CPU_TRIGGER = 0.8

# Real disks only: memory-backed, image and pseudo file systems never fill with data.
FILESYSTEMS = f'{HOST_SELECTOR}, fstype!~"tmpfs|ramfs|squashfs|overlay|nsfs|fuse.*"'

RECORDINGS: tuple[Recording, ...] = (
    Recording(HOST_CPU,
              "1 - avg by (job, instance) (\n"
              f'  rate(node_cpu_seconds_total{{{HOST_SELECTOR}, mode="idle"}}[5m])\n)',
              help="Share of a host's CPU time not idle over 5 minutes (all cores)."),
    Recording(HOST_MEMORY_AVAILABLE,
              f"max by (job, instance) (node_memory_MemAvailable_bytes{{{HOST_SELECTOR}}})\n"
              "/ on (job, instance)\n"
              f"max by (job, instance) (node_memory_MemTotal_bytes{{{HOST_SELECTOR}}})",
              help="Share of a host's memory available to new work without swapping."),
    Recording(HOST_FILESYSTEM_AVAILABLE,
              f"node_filesystem_avail_bytes{{{FILESYSTEMS}}}\n"
              f"/\nnode_filesystem_size_bytes{{{FILESYSTEMS}}}",
              help="Share of each file system available to non-root users."),
)


def _filling(hours: int, below: float) -> str:
    """A file system below ``below`` available that, at the last 6 hours' pace, is full within
    ``hours`` (read-only ones never fill)."""
    return (f"{HOST_FILESYSTEM_AVAILABLE} < {below:g}\n"
            "and\n"
            f"predict_linear(node_filesystem_avail_bytes{{{FILESYSTEMS}}}[6h], {hours} * 3600)"
            " < 0\n"
            "and\n"
            f"node_filesystem_readonly{{{FILESYSTEMS}}} == 0")


_DISK = ("{{ $labels.mountpoint }} on {{ $labels.instance }} ({{ $labels.job }}) has "
         "{{ $value | humanizePercentage }} left and, at the pace of the last 6 hours, is full "
         "within {hours} hours.")

ALERTS: tuple[Alert, ...] = (
    Alert(name="WedSyncHostCPUHigh", expr=f"{HOST_CPU} > $threshold",
          severity="warning", category="saturation",
          summary="A host's CPU is busy above 80%.",
          description="{{ $labels.instance }} ({{ $labels.job }}) has used "
                      "{{ $value | humanizePercentage }} of its CPU over 5 minutes.",
          other_days=Timing("15m", CPU_TRIGGER), wedding_days=Timing("10m", CPU_TRIGGER)),
    Alert(name="WedSyncHostMemoryLow", expr=f"{HOST_MEMORY_AVAILABLE} < $threshold",
          severity="warning", category="saturation",
          summary="A host is running out of available memory.",
          description="Only {{ $value | humanizePercentage }} of the memory of "
                      "{{ $labels.instance }} ({{ $labels.job }}) is available; below it the "
                      "kernel swaps or kills processes.",
          other_days=Timing("10m", 0.1), wedding_days=Timing("5m", 0.15)),
    Alert(name="WedSyncHostDiskFillingUp", expr=_filling(24, 0.4),
          severity="warning", category="capacity",
          summary="A host's disk is forecast to be full within a day.",
          description=_DISK.replace("{hours}", "24"), other_days=Timing("1h"),
          urgency="later"),
    Alert(name="WedSyncHostDiskFullSoon", expr=_filling(4, 0.2),
          severity="critical", category="saturation",
          summary="A host's disk is forecast to be full within 4 hours.",
          description=_DISK.replace("{hours}", "4"), other_days=Timing("30m")),
)
