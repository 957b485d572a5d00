# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Connection options shared by the collection's Prometheus modules."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  prometheus_url:
    description: Base URL of the Prometheus server's HTTP API.
    type: str
    default: http://127.0.0.1:9090
  timeout:
    description: Seconds to wait for each answer from Prometheus.
    type: float
    default: 10.0
"""
