"""Shared test set-up. Under CI=true a skipped test is a failure: CI must never hide a missing service."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (a skip must not hide a missing service): {reason}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    """The default lab, one per test module (a module wanting other sizes defines its own ``lab``)."""
    from lab_support import make_lab

    yield from make_lab(tmp_path_factory)


@pytest.fixture
def lab_faults(lab):
    """No injected drush fault and every lab host up, around a test (``usefixtures("lab_faults")``)."""
    from lab_support import reset_faults

    yield from reset_faults(lab)


# The longest modules first: xdist's loadfile hands out whole modules in collection order, and the
# longest one (the cluster crash matrix, about 5 minutes) left last kept one worker busy alone at the end.
SLOW_FIRST = ("test_crash_cluster.py", "test_crash_local.py", "test_crash_parallel.py", "test_orphans.py",
              "test_rename.py", "test_crash_rename.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))
