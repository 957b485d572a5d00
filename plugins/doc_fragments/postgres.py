# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Connection options shared by the collection's PostgreSQL modules."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  login_host:
    description: Address of the PostgreSQL server.
    type: str
    default: localhost
  login_port:
    description: Port of the PostgreSQL server.
    type: int
    default: 5432
  login_db:
    description: Database to connect to.
    type: str
    default: postgres
  login_user:
    description: Role to connect as.
    type: str
    default: postgres
  login_password:
    description:
      - Password of O(login_user). Never logged, and masked wherever it would appear in the result.
    type: str
  ssl_mode:
    description: libpq C(sslmode) of the connection.
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
    default: prefer
  ca_cert:
    description: CA bundle that verifies the server certificate (libpq C(sslrootcert)).
    type: path
  connect_timeout:
    description: Seconds to wait for the connection.
    type: int
    default: 10
requirements:
  - psycopg 3 (Python library, Debian C(python3-psycopg)) on the host the module runs on
"""
