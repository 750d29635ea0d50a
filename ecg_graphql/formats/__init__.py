"""File formats an ECG is exported to: pure functions from an `EcgRecord` to bytes, one module
per format (`svg`, `pdf`, `fhir`, `wfdb`), listed in `registry`. Nothing here knows HTTP,
GraphQL or the database."""
