"""YAML (and JSON) config files, read with limits: no duplicate keys, bounded nesting and size.

PyYAML's SafeLoader lets the last of two equal keys win silently, recurses until Python's
stack runs out on deep nesting, and shares an aliased node wherever it is referenced, so
a few lines of aliases ("billion laughs") expand into a value that validation, logging or
the function's arguments would then walk in full. Each of these is refused here, naming the
line, before anything is built.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from daskrun import helm_scalars

# Far above any real config, and low enough that PyYAML (pure Python, ~20 us a value) reads
# the worst document within the limits in well under a second (benchmarks/hostile_inputs.py).
MAX_BYTES = 2**20
MAX_DEPTH = 64
MAX_NODES = 20_000  # values in the document, and again with every alias expanded


class YamlLimitError(ValueError):
    """The document is valid YAML but breaks one of the limits above; says which and where."""


def _line(node: Node) -> int:
    return node.start_mark.line + 1


class LimitedLoader(yaml.SafeLoader):
    """SafeLoader that reads plain scalars as Helm does (`helm_scalars`) and enforces the
    limits of this module."""

    _depth = 0
    _nodes = 0

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return helm_scalars.tag_of(value)
        return super().resolve(kind, value, implicit)

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise YamlLimitError(
                    f"nested more than {MAX_DEPTH} levels deep (line {mark.line + 1}); a config needs a few levels"
                )
            if self._nodes > MAX_NODES:
                # Checked while parsing, so a huge document is refused before it is all read.
                mark = self.peek_event().start_mark
                raise YamlLimitError(
                    f"more than {MAX_NODES} values (at line {mark.line + 1}); "
                    "pass large inputs as a file or URL the function reads"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_document(self, node: Node) -> Any:
        size = _expanded_size(node, {})
        if size > MAX_NODES:
            raise YamlLimitError(
                f"expands to {size} values (aliases included), more than {MAX_NODES}; "
                "pass large inputs as a file or URL the function reads, not in the config"
            )
        return super().construct_document(node)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> Any:
        if isinstance(node, MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *base` merges on purpose; its keys may be overridden
                if isinstance(key_node, ScalarNode) and key_node.style is None and key_node.tag in helm_scalars.TAGS:
                    key_node.tag = helm_scalars.key_tag(key_node.value)
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    continue  # an unhashable key: SafeLoader itself refuses it
                if first is not None:
                    raise YamlLimitError(
                        f"duplicate key {str(key)[:80]!r} (line {first} and line {_line(key_node)}): "
                        "only the last one would count; keep one"
                    )
                seen[key] = _line(key_node)
        return super().construct_mapping(node, deep=deep)


_COUNTING = -1


def _expanded_size(node: Node, sizes: dict[int, int]) -> int:
    """Nodes counted with every alias expanded, in time linear in the (unexpanded) document."""
    known = sizes.get(id(node))
    if known == _COUNTING:
        raise YamlLimitError(
            f"an alias refers to a value that contains it (line {_line(node)}); a config cannot be recursive"
        )
    if known is not None:
        return known
    sizes[id(node)] = _COUNTING
    if isinstance(node, SequenceNode):
        size = 1 + sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, MappingNode):
        size = 1 + sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    else:
        size = 1
    sizes[id(node)] = size
    return size


def _construct_helm_scalar(loader: LimitedLoader, node: ScalarNode) -> Any:
    return helm_scalars.value_of(node.tag, loader.construct_scalar(node))


def _construct_disputed_key(loader: LimitedLoader, node: ScalarNode) -> helm_scalars.DisputedKey:
    text = loader.construct_scalar(node)
    return helm_scalars.DisputedKey(text, _line(node))


for _tag in helm_scalars.TAGS:
    LimitedLoader.add_constructor(_tag, _construct_helm_scalar)
LimitedLoader.add_constructor(helm_scalars.DISPUTED_KEY, _construct_disputed_key)


def load(text: str) -> Any:
    """The document in `text` (its numbers as the values Helm gives the pod, see
    `helm_scalars.as_helm_numbers`); yaml.YAMLError or YamlLimitError when it cannot be read,
    helm_scalars.DisputedValue when Helm would change or refuse a value."""
    return helm_scalars.as_helm_numbers(yaml.load(text, Loader=LimitedLoader))
