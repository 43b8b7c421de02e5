"""The upstream client (layer 3): members of an alias, per worker, as the reverse proxy
(``skitai.gateway``) and ``was`` use them.

- ``connection.py``: ``UpstreamConnection`` (HTTP/1.1 client protocol, on
  ``skitai.transport.TransportConnection`` as the server's connections are) and
  ``ResponseStream``; ``UpstreamError`` (502) and ``UpstreamTimeout`` (504).
- ``h2connection.py``: ``H2UpstreamConnection`` (HTTP/2 client over TLS, one per member,
  streams multiplexed) chosen by ALPN (``AlpnSwitch``); ``H2ResponseStream``.
- ``balancer.py``: weight and outstanding requests, power of two choices.
- ``pool.py``: ``AliasPool``: keep-alive pools, fail-over, health checks,
  ``await pool.request(...)`` and ``await pool.open(...)``.
- ``registry.py``: one ``AliasPool`` per alias in a worker: ``registry.current().get("@x")``.
"""
