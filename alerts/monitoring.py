"""Alerts about the monitoring itself (the capacity tickets are in ``alerts.capacity``).

The Watchdog always fires: an outside dead man's switch expects its notification every minute
and raises the alarm when it stops, because a dead Prometheus or Alertmanager cannot page about
itself.
"""

from __future__ import annotations

from alerts.model import Alert, Group, Timing
from alerts.settings import ALERTMANAGER_JOB, EXPORTER_JOB, PROMETHEUS_JOB

WATCHDOG = "WedSyncWatchdog"
EXPORTER_MISSING = "WedSyncExporterMissing"


def _config_reload(name: str, what: str, metric: str) -> Alert:
    return Alert(
        name=name, expr=f"max by (job, instance) ({metric}) == 0", severity="warning",
        category="monitoring", summary=f"{what} refused its new configuration.",
        description=(f"{what} at {{{{ $labels.instance }}}} keeps running on its previous "
                     "configuration because the new one failed to load."),
        other_days=Timing("10m"), wedding_days=Timing("5m"))


MONITORING_ALERTS: tuple[Alert, ...] = (
    Alert(name=WATCHDOG, expr="vector(1)", severity="info", category="monitoring",
          summary="The alerting pipeline works; this alert always fires.",
          description="A dead man's switch outside this stack expects this notification "
                      "every minute and must alarm when it stops.",
          urgency="later"),
    Alert(name=EXPORTER_MISSING, expr=f'absent(up{{job="{EXPORTER_JOB}"}} == 1)',
          severity="critical", category="monitoring",
          summary="Prometheus cannot scrape the WedSync exporter.",
          description="No instance of job " + EXPORTER_JOB + " answers scrapes: every "
                      "WedSync alert is blind until it is back.",
          # Without the exporter the day is unknown and counts as a wedding day (fail safe),
          # so one timing serves every day.
          other_days=Timing("2m")),
    Alert(name="WedSyncPrometheusRuleFailures",
          expr="increase(prometheus_rule_evaluation_failures_total[5m]) > 0",
          severity="critical", category="monitoring",
          summary="Prometheus fails to evaluate rules.",
          description="Rule group {{ $labels.rule_group }} failed "
                      "{{ $value | printf \"%.0f\" }} evaluations in 5 minutes: its alerts "
                      "cannot fire.",
          other_days=Timing("5m")),
    Alert(name="WedSyncPrometheusNotificationsFailing",
          expr="rate(prometheus_notifications_errors_total[5m])\n/ on (job, instance, "
               "alertmanager)\nrate(prometheus_notifications_sent_total[5m]) > 0.01",
          severity="warning", category="monitoring",
          summary="Prometheus fails to send alerts to Alertmanager.",
          description="{{ $value | humanizePercentage }} of the alerts Prometheus "
                      "{{ $labels.instance }} sent to {{ $labels.alertmanager }} failed.",
          other_days=Timing("10m"), wedding_days=Timing("5m")),
    Alert(name="WedSyncAlertmanagerNotificationsFailing",
          expr="rate(alertmanager_notifications_failed_total[5m])\n/ on (job, instance, "
               "integration)\nrate(alertmanager_notifications_total[5m]) > 0.01",
          severity="critical", category="monitoring",
          summary="Alertmanager fails to deliver notifications.",
          description="{{ $value | humanizePercentage }} of {{ $labels.integration }} "
                      "notifications from {{ $labels.instance }} failed: pages or tickets "
                      "may not arrive.",
          other_days=Timing("5m")),
    _config_reload("WedSyncPrometheusConfigReloadFailed", "Prometheus",
                   f'prometheus_config_last_reload_successful{{job="{PROMETHEUS_JOB}"}}'),
    _config_reload("WedSyncAlertmanagerConfigReloadFailed", "Alertmanager",
                   f'alertmanager_config_last_reload_successful{{job="{ALERTMANAGER_JOB}"}}'),
    _config_reload("WedSyncExporterConfigReloadFailed", "The WedSync exporter",
                   "wedsync_config_last_reload_successful"),
)

def groups() -> tuple[Group, ...]:
    """The monitoring rule group."""
    return (Group("wedsync-monitoring", alerts=MONITORING_ALERTS),)
