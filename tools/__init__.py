"""Tools: what agents can do (protocol and ``@tool`` in :mod:`lma.tools.base`).

Standalone tools registered here can be offered to any agent; env actions are tools too, listed
by ``env.unwrapped.tools``. LangChain tools are accepted wherever a tool is (:func:`as_tool`).
"""

from lma.tools.base import FunctionTool, LangChainTool, Tool, as_tool, tool, tool_call_schema, validate_call

__all__ = ["FunctionTool", "LangChainTool", "Tool", "as_tool", "tool", "tool_call_schema", "validate_call"]
