"""The exporter's HTTP layer: thin handlers over the service's state."""
