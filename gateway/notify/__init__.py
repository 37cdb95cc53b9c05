"""Notifications: FHIR Subscriptions (R4B topic-based backport on R4), delivered from an outbox.

A change and the messages it causes commit in one transaction (:mod:`gateway.notify.outbox`); a
delivery worker (:mod:`gateway.notify.delivery`) claims subscriptions with ``FOR UPDATE SKIP LOCKED``,
POSTs each message as a signed history Bundle led by a ``SubscriptionStatus`` Parameters, retries with
exponential backoff and records the outcome, so any number of gateway processes deliver every message
once and in order, and a restart loses nothing. Each notification is decided for its subscriber by
the sharing rules as it is sent (:mod:`gateway.notify.release`) and every attempt is audited
(:mod:`gateway.notify.delivery_audit`); only topics the rules could ever show the caller may be
subscribed to (:mod:`gateway.notify.permitted`).

Errors (all :class:`gateway.fhir.errors.FhirError`, rendered as OperationOutcome)::

    InvalidRequest    400  the Subscription is malformed or names an unknown topic
    Forbidden         403  the filter names another agency, the rules could never show the caller
                           the topic, or the caller may not see a subscription
    NotFound          404  no such subscription
"""
