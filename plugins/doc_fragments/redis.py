# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Connection options shared by the collection's Redis modules."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  login_host:
    description: Address of the Redis node.
    type: str
    default: 127.0.0.1
  login_port:
    description: Port of the Redis node.
    type: int
    default: 6379
  login_user:
    description: ACL user name (Redis 6 and later); leave unset for C(requirepass) authentication.
    type: str
  login_password:
    description: Password for AUTH.
    type: str
  tls:
    description: Connect with TLS.
    type: bool
    default: false
  validate_certs:
    description: Verify the server certificate and its host name when O(tls=true).
    type: bool
    default: true
  ca_certs:
    description: CA bundle for verifying the server certificate.
    type: path
  client_cert:
    description: Client certificate (PEM) for servers that require one with O(tls=true).
    type: path
  client_key:
    description: Private key of O(client_cert).
    type: path
  connect_timeout:
    description: Seconds to wait for the connection and for each command.
    type: float
    default: 5.0
requirements:
  - redis (Python library) on the host the module runs on
"""
