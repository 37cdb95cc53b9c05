"""Who may see what: pure sharing decisions for the Crisis Exchange Gateway (docs/policies.md).

Entry points for the gateway::

    labelling.label(resource) -> resource with meta.security raised        (HL7 DS4P, on write)
    data_classes.data_classes(resource) -> frozenset[str]
    pipeline.request_for(principal, action, resource, purpose=..., **facts) -> AccessRequest
    pipeline.evaluate(request, resource, consents, agreements) -> Decision  (on every access)
    redaction.apply_obligations(resource, decision) -> resource | None      (what the caller gets)
    engine.default_engine() -> PolicyEngine (load once at start-up; .decide(request, facts))
    agreements.AgreementSet.load(path)
    matrix.rows() / to_csv() / to_text()                                    (gateway policy matrix)

Errors (all stop start-up; none carries patient data)::

    ValueError
    ├── consent.ConsentError        a Consent that cannot be compiled
    └── agreements.AgreementError   an agreements file that cannot be loaded
    RuntimeError
    └── engine.PolicyLoadError      policies missing an @id, duplicated, or not valid against the schema
"""
