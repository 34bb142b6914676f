"""Locust's entry point for the pipeline's load tests: `locust -f loadtest/locustfile.py`.

The users and the shape live in the installed module (cryptopipe.loadtest.locustfile); run them
through `cryptopipe loadtest`, which brings up the stack and the services they load and writes
the run's plan this file needs (see loadtest/README.md).
"""

from cryptopipe.loadtest.locustfile import CryptopipeShape, ExchangeUser, KafkaUser

__all__ = ["CryptopipeShape", "ExchangeUser", "KafkaUser"]
