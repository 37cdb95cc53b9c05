"""Placement: facility directory, bed census, matching and the referral workflow."""
