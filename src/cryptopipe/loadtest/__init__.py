"""`cryptopipe loadtest`: Locust load tests of the pipeline (see docs/loadtest.md). Nothing here
imports Locust except ``locustfile``, which only Locust's own process loads."""
