"""Generated log trees of each coding agent, for bench/bench_agent_imports.py.

One module per agent, named as the agent's registry module (``claude_code.py`` for
``claude-code``), with::

    def generate(root: Path, calls: int, seed: int = 0) -> Path

``root`` is the agent's first default place (``registry.get(name).places({}, home, platform)[0]``
under the benchmark's own empty home: a folder or a file path, as the agent keeps it). The
generator writes about ``calls`` model calls there, the way the agent writes them, so that a
plain ``spendtag import`` finds them, and returns the PATH to give ``spendtag import AGENT PATH``.
"""
