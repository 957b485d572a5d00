#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Install one IntelGraph release into its own directory, checked, in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
module: release_install
short_description: Install an IntelGraph release into its own directory and check that it is that release
description:
  - Unpacks the release tarball C(intelgraph-server-<version>.tar.gz) into C(<root>/releases/<version>), owned by
    the user the module runs as (root), and checks that the release says it is that version (its C(VERSION) file).
    It does not switch the C(current) link and touches no other release.
  - >-
    A release directory that holds a C(VERSION) file is installed already; the module only checks it, and never
    reads the tarball. A directory that says another release fails the module, naming both, since unpacking
    over it would mix two releases.
  - The tarball comes from the controller (O(src), which the action plugin copies to the host only when the
    release is missing) or from O(url) (downloaded by the host, only when the release is missing). Without
    either, the module only says whether the release is there (RV(installed)).
  - >-
    Members are unpacked as data (Python's C(tarfile) data filter): no absolute paths, no C(..), no links
    out of the release directory, no device files, no set-user-ID bits.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
attributes:
  action:
    support: full
    description: An action plugin copies O(src) from the controller, only when the release is missing.
  check_mode:
    support: full
    description: In check mode nothing is unpacked; the result says whether the release would be.
  diff_mode:
    support: none
    description: No diff is produced.
  idempotent:
    support: full
    description: A release that is installed is only checked.
options:
  version:
    description: The release, C(MAJOR.MINOR.PATCH).
    type: str
    required: true
  root:
    description: The directory holding C(releases/) (and the C(current) link, which this module leaves alone).
    type: path
    required: true
  src:
    description:
      - The release tarball on the controller (a relative path is looked for in the role's C(files/)).
      - Copied to the host only when the release is not installed there.
      - Mutually exclusive with O(url).
    type: path
  url:
    description:
      - The URL the host downloads the release tarball from, only when the release is not installed there.
      - Mutually exclusive with O(src).
    type: str
  timeout:
    description: Seconds the download from O(url) may take to answer (more than 0).
    type: float
    default: 60
seealso:
  - module: ansible.builtin.unarchive
"""

EXAMPLES = r"""
- name: Install release 24.1.0 from the tarballs on the controller
  intelgraph.ops.release_install:
    version: 24.1.0
    root: /opt/intelgraph
    src: /srv/releases/intelgraph-server-24.1.0.tar.gz

- name: Install release 24.1.0, downloaded by the host
  intelgraph.ops.release_install:
    version: 24.1.0
    root: /opt/intelgraph
    url: https://releases.example.com/intelgraph/intelgraph-server-24.1.0.tar.gz
"""

RETURN = r"""
path:
  description: The release directory.
  returned: always
  type: str
  sample: /opt/intelgraph/releases/24.1.0
installed:
  description: Whether the release directory holds the release (after the module ran; in check mode, before).
  returned: always
  type: bool
found:
  description: The release the directory's C(VERSION) file says, when it has one.
  returned: always
  type: str
  sample: 24.1.0
members:
  description: How many members of the tarball were unpacked (0 when nothing was).
  returned: always
  type: int
  sample: 42
"""

import os
import re
import shutil
import tarfile
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import fetch_url
from ansible_collections.intelgraph.ops.plugins.module_utils._timeouts import timeout_errors

VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")


def read_stamp(path: str) -> str | None:
    """What <path>/VERSION says, or None when there is no such file."""
    try:
        with open(os.path.join(path, "VERSION"), encoding="utf-8") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return None


def checked_member(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """The member as it may be unpacked into dest: what Python's data filter allows, or, for a
    Python without it (before 3.11.4, such as Debian 12's 3.11.2), checked_by_hand. Raises
    tarfile.TarError otherwise."""
    if hasattr(tarfile, "data_filter"):
        return tarfile.data_filter(member, dest)
    return checked_by_hand(member, dest)


def checked_by_hand(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """The data filter's checks, for a Python without it: no member or link out of dest, no
    special file; no set-user-ID bit or group/other write; owned by root."""
    root = os.path.realpath(dest)
    target = os.path.realpath(os.path.join(root, member.name))
    if os.path.isabs(member.name) or os.path.commonpath([root, target]) != root:
        raise tarfile.TarError(f"{member.name} would be unpacked outside {dest}")
    if member.issym() or member.islnk():
        base = os.path.dirname(target) if member.issym() else root
        linked = os.path.realpath(os.path.join(base, member.linkname))
        if os.path.isabs(member.linkname) or os.path.commonpath([root, linked]) != root:
            raise tarfile.TarError(f"{member.name} links outside {dest}")
    elif not (member.isfile() or member.isdir()):
        raise tarfile.TarError(f"{member.name} is a special file")
    member.mode &= 0o755
    member.uid = member.gid = 0
    member.uname = member.gname = "root"
    return member


def unpack(tarball: str, dest: str) -> int:
    """Unpack tarball into dest (made if missing); the number of members unpacked."""
    os.makedirs(dest, mode=0o755, exist_ok=True)
    with tarfile.open(tarball, "r:*") as archive:
        members = [checked_member(member, dest) for member in archive.getmembers()]
        if hasattr(tarfile, "data_filter"):
            archive.extractall(dest, members=members, filter="fully_trusted")
        else:
            archive.extractall(dest, members=members)
    return len(members)


def download(module: AnsibleModule, url: str, timeout: float, directory: str) -> str:
    """Download url into a file of directory; its path. Fails the module on any answer but 200."""
    response, info = fetch_url(module, url, timeout=timeout)
    if info.get("status") != 200 or response is None:
        module.fail_json(msg=f"Cannot download {info.get('url', url)}: {info.get('msg', 'no answer')}.")
    fd, path = tempfile.mkstemp(prefix=".release-", suffix=".tar.gz", dir=directory)
    with os.fdopen(fd, "wb") as handle:
        shutil.copyfileobj(response, handle)
    return path


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "version": {"type": "str", "required": True},
            "root": {"type": "path", "required": True},
            "src": {"type": "path"},
            "url": {"type": "str"},
            "timeout": {"type": "float", "default": 60.0},
        },
        mutually_exclusive=[("src", "url")],
        supports_check_mode=True,
    )
    params = module.params
    version = params["version"]
    if not VERSION_RE.match(version):
        module.fail_json(msg=f"version must be MAJOR.MINOR.PATCH, not '{version}'.")
    errors = timeout_errors({"timeout": params["timeout"]})
    if errors:
        module.fail_json(msg=f"Bad timeout: {errors[0]}.")
    dest = os.path.join(params["root"], "releases", version)
    source = params["src"] or params["url"]
    artifact = os.path.basename(source) if source else f"intelgraph-server-{version}.tar.gz"
    result = {"changed": False, "path": dest, "installed": False, "found": "", "members": 0}

    def checked(found: str | None) -> None:
        result["found"] = found or ""
        if found != version:
            module.fail_json(
                msg=(
                    f"{dest} holds release {found or '(an empty VERSION)'}, not {version}: remove that directory "
                    f"and check the artifact {artifact}."
                ),
                **result,
            )
        result["installed"] = True

    try:
        found = read_stamp(dest)
    except (OSError, UnicodeDecodeError) as exc:
        module.fail_json(msg=f"Cannot read {dest}/VERSION: {exc}. Remove {dest} and run again.", **result)
    if found is not None:
        checked(found)
        module.exit_json(msg=f"Release {version} is installed in {dest}.", **result)
    if module.check_mode:
        result["changed"] = True
        module.exit_json(msg=f"Check mode: release {version} would be unpacked into {dest}.", **result)
    if not source:
        module.exit_json(msg=f"Release {version} is not installed in {dest}.", **result)

    releases = os.path.dirname(dest)
    os.makedirs(releases, mode=0o755, exist_ok=True)
    tarball = params["src"] or download(module, params["url"], params["timeout"], releases)
    try:
        result["members"] = unpack(tarball, dest)
    except (tarfile.TarError, OSError) as exc:
        module.fail_json(msg=f"Cannot unpack {artifact} into {dest}: {exc}.", **result)
    finally:
        if params["url"]:
            os.unlink(tarball)
    result["changed"] = True
    checked(read_stamp(dest))
    module.exit_json(msg=f"Release {version} was unpacked into {dest}.", **result)


if __name__ == "__main__":
    main()
