"""Topics the gateway publishes and the URLs of the Subscriptions R5 Backport IG it speaks.

hl7.org/fhir/uv/subscriptions-backport (STU 1.1): on R4 a topic-based Subscription names its topic in
``Subscription.criteria``; filters, payload content and heartbeat travel in backport extensions;
notifications are ``history`` Bundles led by a ``backport-subscription-status-r4`` Parameters.
"""

from __future__ import annotations

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
SUBSCRIPTION_PROFILE = BACKPORT + "backport-subscription"
NOTIFICATION_PROFILE = BACKPORT + "backport-subscription-notification-r4"
STATUS_PROFILE = BACKPORT + "backport-subscription-status-r4"
FILTER_CRITERIA = BACKPORT + "backport-filter-criteria"
PAYLOAD_CONTENT = BACKPORT + "backport-payload-content"
HEARTBEAT_PERIOD = BACKPORT + "backport-heartbeat-period"

TOPIC_PREFIX = "urn:crisis-exchange:subscription-topic:"

NEW_PLACEMENT_TASK = "new-placement-task"
PLACEMENT_STATUS = "placement-status"
NEW_REFERRAL_TASK = "new-referral-task"
REFERRAL_STATUS = "referral-status"
REFERRAL_ESCALATION = "referral-escalation"

# topic name → (what it carries, the Task search parameter that names the subscriber's agency)
TOPICS: dict[str, tuple[str, str]] = {
    NEW_PLACEMENT_TASK: (
        "placement Tasks owned by the subscribing facility: created (asked) and every later change",
        "owner",
    ),
    PLACEMENT_STATUS: (
        "placement requests made by the subscribing agency: status changes of the request and of "
        "each facility's answer, escalations and involuntary-hold alerts",
        "requester",
    ),
    NEW_REFERRAL_TASK: (
        "referral Tasks the subscribing organisation receives: routed to it (or, for a team off "
        "duty, at the start of its next shift) and every later change",
        "owner",
    ),
    REFERRAL_STATUS: (
        "referrals made by the subscribing agency: routing and every step of the receiver "
        "(received, accepted or rejected, appointment booked, completed with an outcome)",
        "requester",
    ),
    REFERRAL_ESCALATION: (
        "referrals the subscribing organisation left unanswered past their urgency's time limit "
        "(for its supervisors)",
        "owner",
    ),
}

# topic → the resource types its notifications focus on (what a subscriber must be able to see at
# all for the subscription to make sense: gateway.notify.permitted)
FOCUS_TYPES: dict[str, tuple[str, ...]] = {
    NEW_PLACEMENT_TASK: ("Task",),
    PLACEMENT_STATUS: ("Task", "Communication"),  # involuntary-hold alerts are Communications
    NEW_REFERRAL_TASK: ("Task",),
    REFERRAL_STATUS: ("Task",),
    REFERRAL_ESCALATION: ("Communication",),  # the supervisor alert, the referral as context
}

CONTENTS = ("empty", "id-only", "full-resource")


def canonical(topic: str) -> str:
    return TOPIC_PREFIX + topic


def topic_name(criteria: str) -> str | None:
    """The topic a ``Subscription.criteria`` names (its canonical URL, or the bare name)."""
    name = criteria.strip()
    name = name.removeprefix(TOPIC_PREFIX)
    return name if name in TOPICS else None
