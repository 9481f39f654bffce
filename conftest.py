"""Workspace-wide pytest setup.

Hypothesis: CI (``.ci/run`` sets ``HYPOTHESIS_PROFILE=ci``) runs every property test on the
same derandomised examples, so a red CI is reproducible from the log rather than a draw of
the day; locally the default profile keeps exploring new examples on every run.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
