"""The runtime every model shares: the registry, the per-model batcher and ready model, the contract a task
implements (contract), drain, metrics, device and logging. It knows no task: service/tasks plugs them in."""
