"""FHIR Bulk Data export (``$export``, HL7 Bulk Data Access IG 2.0.0) under the sharing rules.

``endpoints`` (kick-off, status, cancel, files) → ``service`` (jobs as their owner sees them) →
``repository`` (jobs, leases, files); ``kickoff`` checks a kick-off, ``runner`` writes the files
through the caller's sharing guard, ``schemas`` holds the settings, media types and manifest.
Jobs and files live in the database (``export_job``, ``export_file``), so any replica can answer
a poll, serve a file or resume a job whose process died. docs/bulk-export.md describes it.
"""
