"""The gateway with enforcement reduced to token scopes, for measuring what the sharing rules cost.

Only for ``crud_search.py --app bench.asgi_scopes_only:app``: the same app as ``gateway.asgi`` (auth,
scopes, audit, labelling) with the sharing-rules guard left out. It is not installed with the package
and nothing in ``gateway/`` can switch the rules off.
"""

from gateway.app import create_app

app = create_app(sharing_rules=False)
