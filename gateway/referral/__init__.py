"""Referrals across agencies with a closed loop: a ServiceRequest + Task routed to the receiving
organisation's work queue, answered, booked and completed, the referrer told of every step."""
