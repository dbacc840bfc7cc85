"""The report's analysis, one module per section of the report.

Each module turns the cached results (a :class:`~langgraph_ttc.bench.split_data.SplitData`
per split) into the plain data of one section; ``bench.analysis`` assembles them.
"""
