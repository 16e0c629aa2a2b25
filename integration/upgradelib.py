"""What the upgrade tests share: the fleet they start from (four nodes on
16.3.5, each agent configured for the fixture's package manager and
gitlab-rake), the latest released patch of a minor, and the installs the
fixture's apt-get recorded."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet  # noqa: E402
from fleet import Fleet  # noqa: E402
sys.path.insert(0, fleet.FIXTURE)
import gitlab_node  # noqa: E402

BUILD = os.environ.get("LOCKSTEP_BUILD", "build")
FROM = "16.3.5"
NODES = [
    ("rails-1", ["rails", "sidekiq"]),
    ("gitaly-1", ["gitaly"]),
    ("postgresql-1", ["postgresql"]),
    ("redis-1", ["redis"]),
]


def set_build(d):
    global BUILD
    BUILD = d


def latest(minor):
    """The latest released patch of 'X.Y' in the shipped list."""
    vs = [v for v in gitlab_node.released_versions() if v.startswith(minor + ".")]
    return max(vs, key=gitlab_node.version_tuple)


def installs(f, node):
    """The versions the node's apt-get was asked to install, in order."""
    return [c["argv"][-1].split("=")[1].split("-")[0] for c in f.calls(node, "apt-get")
            if "install" in c["argv"]]


def upgrade_fleet(nodes=NODES, sites=None, before_wait=None, **kwargs):
    """A started fleet on FROM whose agents drive the fixture's packages:
    sites {node: site} for a Geo fleet; before_wait(f) runs once the
    agents are configured. Raises AssertionError when not built."""
    missing = Fleet.missing_binaries(BUILD)
    if missing:
        raise AssertionError("missing binaries (build first): %s" % missing)
    f = Fleet(BUILD, nodes=nodes, gitlab_version=FROM, **kwargs)
    if sites:
        f.node_sites = dict(sites)
    f.__enter__()
    try:
        for name, _ in nodes:
            f.add_upgrade_agent_config(name)
        if before_wait:
            before_wait(f)
        # The agents report the version they run: wait until all do.
        f.wait_until(lambda: all(n.get("gitlab_version", "").startswith(FROM)
                                 for n in f.status()["nodes"]), 30, "every node reports " + FROM)
    except BaseException:
        f.__exit__(*sys.exc_info())
        raise
    return f


class FleetCase(unittest.TestCase):
    """A fresh upgrade fleet per test, stopped whatever happens."""
    fleet_args = {}

    def setUp(self):
        self.f = upgrade_fleet(**self.fleet_args)
        self.addCleanup(self.f.__exit__, None, None, None)
