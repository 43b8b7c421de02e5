"""Many hosts, one app, over Redis (``skitai.enable_cluster``).

One cluster daemon per host (``skitai.cluster.daemon:main`` on the daemon interface; the
master stays free of network clients) joins the host to the others:

- ``keys``: every Redis name the cluster uses, under ``skitai:<name>:``.
- ``connect``: a redis-py asyncio client from ``ClusterConfig`` (TLS for ``rediss://``,
  credentials from the config, never argv).
- ``bus``: local broadcasts and ``setlu`` stamps out to the other hosts over one pub/sub
  channel, theirs in (last writer by timestamp wins; a host reconciles on (re)connect).
- ``hosts``: heartbeats with a TTL, read by ``skitai status --cluster``.
- ``lock``: the fenced per-fire lease that runs a ``cluster="once"`` cron job on one host.
- ``daemon``: the composition root.
"""
