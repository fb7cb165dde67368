"""Entry point for `kopf run -A -m netiso.main`: imports every handler module, nothing else."""

from netiso.handlers import (  # noqa: F401  (imported for their Kopf registrations)
    isolationprofiles,
    lifecycle,
    login,
)
