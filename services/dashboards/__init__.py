"""Grafana dashboards as code: `xf dashboards` writes deploy/grafana/dashboards/*.json from these boards."""
