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
AM_CLUSTER_DEGRADED = "WedSyncAlertmanagerClusterDegraded"
PROMETHEUS_REPLICA_SILENT = "WedSyncPrometheusReplicaSilent"
SHARED_STATE_DOWN = "WedSyncSharedStateDown"


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
          # The best Alertmanager: with a cluster, one member that cannot be reached is the
          # cluster alert's ticket, not a page; with one Alertmanager this is that one.
          expr="min by (job, instance) (\n  rate(prometheus_notifications_errors_total[5m])"
               "\n  / on (job, instance, alertmanager)\n"
               "  rate(prometheus_notifications_sent_total[5m])\n) > 0.01",
          severity="warning", category="monitoring",
          summary="Prometheus fails to send alerts to Alertmanager.",
          description="{{ $value | humanizePercentage }} of the alerts Prometheus "
                      "{{ $labels.instance }} sent failed, even to the Alertmanager that "
                      "fared best.",
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
    # --- replicas (docs/scaling.md): tickets, since the pipeline still works without one ---
    Alert(name=AM_CLUSTER_DEGRADED,
          expr=f'min by (job) (alertmanager_cluster_members{{job="{ALERTMANAGER_JOB}"}})\n'
               f'< on (job)\ncount by (job) (up{{job="{ALERTMANAGER_JOB}"}})',
          severity="warning", category="monitoring", urgency="later",
          summary="The Alertmanager cluster has fewer members than configured.",
          description="An Alertmanager sees {{ $value }} cluster members, fewer than the "
                      "Alertmanagers Prometheus is configured with: one is down or cut off "
                      "from the gossip, and one more loss may page twice or not at all.",
          other_days=Timing("5m")),
    Alert(name=PROMETHEUS_REPLICA_SILENT,
          # The rates are judged once the replica has run its configuration as long as their
          # window: after a start or a reload it rediscovers Alertmanager and sends nothing for
          # a few seconds.
          expr="\n".join((
              f'max by (job, instance) (up{{job="{PROMETHEUS_JOB}"}} == 0)',
              "or",
              "(",
              "  sum by (job, instance) (",
              f'    rate(prometheus_notifications_sent_total{{job="{PROMETHEUS_JOB}"}}[5m])',
              "  ) == 0",
              "  or",
              "  sum by (job, instance) (",
              "    rate(prometheus_tsdb_head_samples_appended_total"
              f'{{job="{PROMETHEUS_JOB}"}}[5m])',
              "  ) == 0",
              ")",
              "and on (job, instance)",
              "time() - max by (job, instance) (",
              "  prometheus_config_last_reload_success_timestamp_seconds"
              f'{{job="{PROMETHEUS_JOB}"}}',
              ") > 300")),
          severity="warning", category="monitoring", urgency="later",
          summary="A Prometheus replica stopped scraping or sending alerts.",
          description="Prometheus {{ $labels.instance }} is down, appends no samples, or "
                      "sends no alerts (not even the Watchdog), as its peer sees it: the HA "
                      "pair runs on one leg.",
          other_days=Timing("5m")),
    Alert(name=SHARED_STATE_DOWN, expr="wedsync_shared_state_up == 0",
          severity="warning", category="monitoring", urgency="later",
          summary="An exporter replica cannot reach the shared-state Redis.",
          description="Exporter {{ $labels.instance }} runs on what it knows: overrides and "
                      "status updates taken elsewhere do not reach it, rate limits count per "
                      "replica, and it tails performance_logs only while its lease lasts.",
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
