"""The ``geo-platform`` command line: click only, one module per command group, wired together
by ``main``. Commands parse options and print; the work they start lives in ``geo_platform.app``
(or ``geo_platform.services`` for the local services). Nothing in the package imports ``cli``.
"""
