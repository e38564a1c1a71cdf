"""Data files shipped inside the package (and so inside the wheel and the image).

``tajikistan.yaml`` is the default service directory: the referral service imports it
(and publishes it as directory events, from which the notify service learns providers
and coordinators) unless ``SAFEPATH_REFERRAL_DIRECTORY_FILE`` names another.
It is the only copy in the repository.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

# Installed packages are plain directories (a wheel is unpacked), so the resource has a
# real path that settings, `safepath directory validate` and log lines can use.
DEFAULT_DIRECTORY = Path(str(files(__name__).joinpath("tajikistan.yaml")))
