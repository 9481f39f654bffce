"""One router module per package (a thin adapter over its public API), plus the service's own
(jobs, health, dashboard). Importing this package registers every job kind."""

from qservice.routes import (
    dashboard,
    health,
    jobs,
    models,
    qattention,
    qcompress,
    qcore,
    qenergy,
    qensemble,
    qflower,
    qhpo,
    qnvlink,
    qops,
    qrouting,
)

ROUTERS = [
    health.router,
    jobs.router,
    qcore.router,
    qrouting.router,
    qops.router,
    qflower.router,
    models.router,
    qnvlink.router,
    qcompress.router,
    qhpo.router,
    qenergy.router,
    qensemble.router,
    qattention.router,
    dashboard.router,
]
