"""Read paths and units on a sandbox host in one command (Fleet.inspect runs it there with the
host's own python3): argv[1] is {"paths": [...], "units": [...]}; prints the answer as JSON.
Standard library only, Python 3.11 (Debian bookworm's)."""

import base64
import grp
import json
import os
import pwd
import subprocess
import sys

request = json.loads(sys.argv[1])
paths = {}
for path in request["paths"]:
    try:
        st = os.stat(path)
    except OSError:
        paths[path] = None
        continue
    info = {
        "mode": st.st_mode & 0o7777,
        "user": pwd.getpwuid(st.st_uid).pw_name,
        "group": grp.getgrgid(st.st_gid).gr_name,
        "target": os.path.realpath(path),
    }
    if os.path.isdir(path):
        info["entries"] = sorted(os.listdir(path))
    else:
        with open(path, "rb") as f:
            info["data"] = base64.b64encode(f.read()).decode()
    paths[path] = info
units = {}
for unit in request["units"]:
    shown = subprocess.run(
        ["systemctl", "show", "--property=ActiveEnterTimestamp", "--value", unit],
        capture_output=True,
        text=True,
        check=True,
    )
    units[unit] = shown.stdout.strip()
print(json.dumps({"paths": paths, "units": units}))
