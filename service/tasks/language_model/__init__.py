"""The language model: item kinds (items), the batched forward (runner), the operations over it
(operations), generation, and sessions (sessions: store and tokens; session_flow: the calls)."""
