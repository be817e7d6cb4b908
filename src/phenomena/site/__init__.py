"""The report: a static HTML site of the store (``phenomena report``), built with the standard library only."""

from phenomena.site.build import build_site as build_site
