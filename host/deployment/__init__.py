"""Several hosts, one deployment: rooms hash to partitions (`partitions`), each partition held by
one host at a time under a lease in the queue database, PostgreSQL (`coordinator`, `tables`,
`statements`, `broadcast`); a message runs on its room's owner, forwarded there by any other host
(`deployment`, `forwarding`); the [deployment] table (`settings`). Nothing is imported here: the
config reads `settings` without loading the database client.
"""
