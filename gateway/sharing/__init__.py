"""The policy enforcement point: sharing rules from ``policies/`` applied on every access path."""
