# Stand-in for ansible-test's pip bootstrap script (get-pip-<version>.py), for machines that
# reach the package index but not ci-files.testing.ansible.com: pip from the standard library
# (ensurepip, no download), then the packages ansible-test asks for from the configured index.
# ansible-test runs this file with the options and packages get-pip.py would get.
import subprocess
import sys

args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True, stdout=subprocess.DEVNULL)
subprocess.run([sys.executable, "-m", "pip", "install", *args], check=True)
