"""A service process can never write its secrets into a core dump."""

import subprocess
import sys

CHECK = """
from kmm.chassis.nodump import dumpable, forbid_core_dumps
forbid_core_dumps()
import resource
print(resource.getrlimit(resource.RLIMIT_CORE), dumpable())
"""

SERVICE = """
import kmm.chassis.cli as cli, kmm.chassis.nodump as nodump
class Args:
    name = "quoter"
try:
    cli.main(Args())
except SystemExit:
    pass
print(nodump.dumpable())
"""


def test_forbid_core_dumps_leaves_no_core_file_and_no_dumpable_process() -> None:
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "(0, 0) False"


def test_the_service_command_forbids_core_dumps_before_reading_settings() -> None:
    # a bad setting stops the service right after the guard: the guard must already hold by then
    env = {"KMM_GAMMA": "-1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", SERVICE], capture_output=True, text=True, timeout=60, env=env)
    assert "KMM_GAMMA" in out.stderr and out.stdout.strip() == "False", out.stderr[-2000:]
