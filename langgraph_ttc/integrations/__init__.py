"""Ways in from elsewhere: an OpenAI-compatible server and LangSmith experiments.

- ``langgraph_ttc.integrations.server``: ``ttc serve``, an OpenAI-compatible
  chat-completions server (FastAPI on uvicorn: ``pip install
  'langgraph-ttc[serve]'``) that answers with test-time compute, the
  strategy and budget chosen per request.
- ``langgraph_ttc.integrations.langsmith_experiments``: run TTC graphs (or
  several strategies) over a LangSmith dataset, with correctness and compute
  as feedback.

A tool floor (``docs/design.md``): it may use every part of the library;
nothing in the library imports it. The agent middleware is in
``langgraph_ttc.agents``.
"""
