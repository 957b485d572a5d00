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
  validate_certs:
    description: Verify the TLS certificate of an C(https://) O(prometheus_url).
    type: bool
    default: true
  ca_path:
    description: CA certificates (PEM) to verify Prometheus's certificate with, instead of the system's.
    type: path
  client_cert:
    description: Client certificate (PEM) presented to Prometheus, when it asks for one (mutual TLS).
    type: path
  client_key:
    description: Private key (PEM) of O(client_cert), when it is not in that file.
    type: path
"""
