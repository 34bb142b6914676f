"""Chaos experiments run with Chaos Toolkit against the local stack (or the endpoints in
settings): the Python providers the experiments in the repo's chaos/ folder call.

- ``settings``: ChaosSettings, the one settings object of `cryptopipe chaos`.
- ``pipeline``: starts the pipeline under test (producer through Toxiproxy, processor, audit)
  and restarts a service the way it was started.
- ``actions``: faults (kill -9, SIGSTOP, stop a server) and their repair.
- ``probes``: what the experiments assert: alerts fired and resolved in Alertmanager, lag back
  to one trigger's worth, the audit complete after catch-up.
- ``journal``: reads Chaos Toolkit journals into the summary table.
- ``cli``: `cryptopipe chaos list|validate|run`.
"""
