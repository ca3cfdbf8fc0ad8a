"""Fuzzing: whatever the text, ``load_spec`` + ``build_graph`` either succeed or raise
SpecError (never any other exception), with a sane location, and quickly.

Mutations of the valid specs in specs/ come from a seeded ``random.Random``, so a failure
reproduces exactly; the failing text is printed in the assertion message. Time is
measured as this thread's CPU time, so other jobs on the machine (or torch worker
threads) do not make it flaky.

``test_fuzz_hostile_tags_and_huge_numbers`` aims at what this fuzz first found broken:
explicit tags anywhere (keys included) and integers far beyond float range.
"""

from __future__ import annotations

import contextlib
import random
import re
import signal
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphspec
from graphspec import SpecError
from tests import SPECS

# Full-line comments are dropped: mutating them is wasted time.
CORPUS = [
    "".join(
        line for line in p.read_text("utf-8").splitlines(True) if not line.lstrip().startswith("#")
    )
    for p in sorted(SPECS.glob("*.yaml"))
]
CORPUS_BY_NAME = {
    p.stem: text for p, text in zip(sorted(SPECS.glob("*.yaml")), CORPUS, strict=True)
}
CPU_LIMIT_S = 2.0  # per call; generous (the slowest, an alias bomb, takes about 0.5 s)
WALL_LIMIT_S = 20.0  # only catches hangs, not slowness

# PyYAML (YAML 1.1) also breaks lines at NEL, LS and PS, and counts lines accordingly.
YAML_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
PAIR = re.compile(r"([A-Za-z_]+): ?(\[[^\]\n]*\]|\{[^}\n]*\}|[^,}\n]*)(, )?")
WORD = re.compile(r"[A-Za-z_]{3,}")
# fmt: off
CHARS = [*"\t:[]{}!&*-#\"'|>,?%@` \n09xZ_.",
         "é", "\u2028", "\x85", "\x00", "\x07", "\x7f", "\ufeff"]
NUMBER_SWAPS = [
    "-1", "0", "-64", "1.5", "3.0", "-0.0", "1e3", "1.0e+3", ".inf", "-.inf", ".nan", "0x10",
    "0o17", "1_000", "99999999999999999999999999999", "-99999999999999999999999999999",
    "'7'", '"7"', "seven", "true", "null", "~", "[]", "{}", "[3, 3]", "[3, 3, 3]", "[-1, 2]",
    "[1.5, 2]", "{a: 1}", "classes",
]
STRUCTURE_LINES = [
    "---", "...", "%YAML 1.1", "- x", "? a", "<<: *x", "&x", "*x", "x: *undefined", "name: t",
    "classes: 3", "'quoted: key': 1", "\t", "#",
    "  - {op: conv, out: 8, kernel: 3, from: nowhere}",
    "      - {op: add, from: [a, b]}",
    "      - {op: linear, out: classes}",
    "      - {op: flatten}",
    "  - stage: extra\n    repeat: 3\n    layers:\n      - {op: maxpool, kernel: 2}",
    "budget: {max_params: 1, max_gflops: 0.0000001}",
    "scale: {width: 0.01}",
    "scale: {width: 3.5}",
]
# fmt: on


def alias_bomb(rng: random.Random, levels: int) -> str:
    """A 'billion laughs' document of ``levels`` levels, each repeating the one before
    ten times (lists or mappings)."""
    maps = rng.random() < 0.5
    lines = ["b0: &b0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for k in range(1, levels):
        if maps:
            body = ", ".join(f"k{i}: *b{k - 1}" for i in range(10))
            lines.append(f"b{k}: &b{k} {{{body}}}")
        else:
            lines.append(f"b{k}: &b{k} [" + ", ".join([f"*b{k - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def _line_op(fn: Callable[[random.Random, list[str], int], None]):
    def apply(rng: random.Random, text: str) -> str:
        lines = text.split("\n")
        fn(rng, lines, rng.randrange(len(lines)))
        return "\n".join(lines)

    return apply


@_line_op
def delete_line(rng, lines, i):
    del lines[i]


@_line_op
def duplicate_line(rng, lines, i):
    lines.insert(i, lines[i])


@_line_op
def swap_lines(rng, lines, i):
    j = rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]


@_line_op
def reindent(rng, lines, i):
    body = lines[i].lstrip(" ")
    indent = len(lines[i]) - len(body)
    choice = rng.randrange(4)
    if choice == 0:
        lines[i] = " " * max(0, indent + rng.choice([-4, -2, -1, 1, 2, 4])) + body
    elif choice == 1:
        lines[i] = "\t" + body
    elif choice == 2:
        lines[i] = " " * indent + "\t" + body
    else:
        lines[i] = body


@_line_op
def insert_char(rng, lines, i):
    s = lines[i]
    p = rng.randrange(len(s) + 1)
    lines[i] = s[:p] + rng.choice(CHARS) * rng.choice([1, 1, 1, 2, 5]) + s[p:]


@_line_op
def truncate_line(rng, lines, i):
    lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]


@_line_op
def insert_structure(rng, lines, i):
    lines.insert(i, rng.choice(STRUCTURE_LINES))


def tag_value(rng: random.Random, text: str) -> str:
    """Put an anchor, alias or (non-core) tag in front of a value."""
    spots = [m.end() for m in re.finditer(r": ", text)]
    if not spots:
        return text
    p = rng.choice(spots)
    prefix = rng.choice(["!x ", "!!str ", "!!python/object/apply:os.system ", "&a ", "*a ", "!"])
    return text[:p] + prefix + text[p:]


def _swap(text: str, m: re.Match[str], value: str) -> str:
    """Put ``value`` in place of the number ``m``."""
    return text[: m.start()] + value + text[m.end() :]


def replace_number(rng: random.Random, text: str) -> str:
    matches = list(NUMBER.finditer(text))
    if not matches:
        return text
    return _swap(text, rng.choice(matches), rng.choice(NUMBER_SWAPS))


def drop_key(rng: random.Random, text: str) -> str:
    matches = list(PAIR.finditer(text))
    if not matches:
        return text
    m = rng.choice(matches)
    return text[: m.start()] + text[m.end() :]


def misspell(rng: random.Random, text: str) -> str:
    matches = list(WORD.finditer(text))
    if not matches:
        return text
    m = rng.choice(matches)
    w = list(m.group())
    i = rng.randrange(len(w) - 1)
    w[i], w[i + 1] = w[i + 1], w[i]
    return text[: m.start()] + "".join(w) + text[m.end() :]


def add_bomb(rng: random.Random, text: str) -> str:
    bomb = alias_bomb(rng, rng.randint(2, 5))  # up to 11,111 values: fast, under the cap
    return bomb + text if rng.random() < 0.5 else text + "\n" + bomb


MUTATIONS = [
    delete_line,
    duplicate_line,
    swap_lines,
    reindent,
    insert_char,
    insert_char,
    truncate_line,
    insert_structure,
    tag_value,
    replace_number,
    replace_number,
    drop_key,
    misspell,
]


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Turn a hang into a TimeoutError (where SIGALRM exists), so a run cannot stall."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check(text: str) -> SpecError | None:
    """Load and build ``text``; return the SpecError (None if it built), failing on any
    other exception, a bad location, or a slow call."""
    cpu, wall = time.thread_time(), time.perf_counter()
    error = None
    try:
        with deadline(WALL_LIMIT_S):
            graphspec.build_graph(graphspec.load_spec(text))
    except SpecError as err:
        error = err
        assert err.issues, text
        n_lines = len(YAML_LINE_BREAK.split(text))
        for issue in err.issues:
            loc = issue.location
            assert 1 <= loc.line <= n_lines + 1 and loc.column >= 1, (repr(text), str(issue))
            assert str(issue).startswith(f"<string>:{loc.line}:{loc.column}: "), str(issue)
            assert issue.message.strip(), str(issue)
    except Exception as exc:
        raise AssertionError(f"{type(exc).__name__}: {exc}\nfor text:\n{text!r}") from exc
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    assert cpu < CPU_LIMIT_S and wall < WALL_LIMIT_S, (cpu, wall, repr(text[:500]))
    return error


def mutants(seed: int, count: int, mutations, extra: Callable | None = None):
    rng = random.Random(seed)
    weights = [1 / len(t) ** 2 for t in CORPUS]  # favour small specs: keeps the run fast
    for _ in range(count):
        text = rng.choices(CORPUS, weights)[0]
        for _ in range(rng.choice([1, 1, 2, 3])):
            text = rng.choice(mutations)(rng, text)
        if extra is not None:
            text = extra(rng, text)
        yield text


def test_corpus_is_valid():
    assert len(CORPUS) >= 4
    for text in CORPUS:
        assert check(text) is None


def test_fuzz_mutated_specs():
    outcomes = {"ok": 0, "error": 0}
    for text in mutants(seed=20240601, count=2000, mutations=MUTATIONS):
        outcomes["ok" if check(text) is None else "error"] += 1
    # Both outcomes must be common, or the mutations are too weak (or too destructive).
    assert outcomes["ok"] >= 100 and outcomes["error"] >= 1000, outcomes


def test_fuzz_with_small_alias_bombs():
    for text in mutants(seed=7, count=12, mutations=MUTATIONS, extra=add_bomb):
        check(text)


@pytest.mark.parametrize("seed", [0, 1], ids=["list", "map"])
def test_alias_bomb_is_refused_quickly(seed):
    text = alias_bomb(random.Random(seed), 9) + CORPUS[0]  # a billion values
    err = check(text)  # also asserts the CPU-time bound
    assert err is not None and "document too large" in err.message


@pytest.mark.parametrize(
    "text",
    [
        "a: &a [*a, *a]\n",
        "a: &a {b: *a}\n",
        "a: " + "[" * 200 + "]" * 200 + "\n",
        "a: " + "{a: " * 200 + "1" + "}" * 200 + "\n",
        "a: " + "[" * 600 + "]" * 600 + "\n",  # deeper than Python's recursion limit
        "".join("  " * i + "-\n" for i in range(200)),
    ],
    ids=["recursive-list", "recursive-map", "deep-list", "deep-map", "very-deep", "deep-block"],
)
def test_recursive_and_deep_documents_are_refused(text):
    err = check(text)
    assert err is not None and "nesting too deep" in err.message


def test_oversized_file_is_refused_without_parsing():
    text = "name: " + "x" * 2_100_000 + "\n"
    cpu = time.thread_time()
    with pytest.raises(SpecError, match="file too large"):
        graphspec.load_spec(text)
    assert time.thread_time() - cpu < 0.5


YAMLISH = st.text(
    alphabet=st.sampled_from(list(" \n\t:-[]{},#!&*?|>'\"%@`.~0129aemnopsz_") + ["é", "\u2028"]),
    max_size=120,
)
TOKENS = st.sampled_from(
    [
        "name", "input", "classes", "encoder", "stage", "layers", "op", "conv", "out",
        "kernel", "from", "add", "flatten", "linear", "budget", "repeat", "relu", "maxpool",
        ": ", ":", "\n", "  ", "    ", "- ", "[", "]", "{", "}", ", ", "&a ", "*a", "---",
        "3", "-1", "0", "64", "1.5", "true", "null", "'x'", "#", "\t", "classes",
        "!!int ", "!!bool ", "!x ", "!!python/name:os.system ", "!!str ",
    ]
)  # fmt: skip
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ
@given(YAMLISH)
def test_random_text(text):
    check(text)


@FUZZ
@given(st.lists(TOKENS, max_size=60).map("".join))
def test_random_token_soup(text):
    check(text)


SMALL = [t for t in CORPUS if len(t) < 1500]


@FUZZ
@given(
    st.sampled_from(range(len(SMALL))),
    st.integers(0, 10_000),
    st.one_of(
        st.integers(-(2**70), 2**70).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    ),
)
def test_random_values_in_valid_specs(index, position, value):
    """Replace one number of a valid spec with an arbitrary scalar."""
    text = SMALL[index]
    matches = list(NUMBER.finditer(text))
    check(_swap(text, matches[position % len(matches)], value))


# --- Hostile input that used to escape as other exceptions ------------------------------

HOSTILE_TAGS = ["!x ", "!!bool ", "!!int ", "!!float ", "!!python/name:os.system ", "!"]


def hostile(rng: random.Random, text: str) -> str:
    """Explicit tags anywhere (keys included), and integers far beyond float range."""
    if rng.random() < 0.5:
        lines = text.split("\n")
        i = rng.randrange(len(lines))
        body = lines[i].lstrip(" -")
        lines[i] = lines[i][: len(lines[i]) - len(body)] + rng.choice(HOSTILE_TAGS) + body
        return "\n".join(lines)
    return _swap(text, rng.choice(list(NUMBER.finditer(text))), "9" * rng.choice([310, 400]))


def test_fuzz_hostile_tags_and_huge_numbers():
    # These escaped as ConstructorError, KeyError, ValueError, IndexError (source.py) and
    # OverflowError (graph.py) before they were fixed.
    for text in mutants(seed=99, count=300, mutations=MUTATIONS, extra=hostile):
        check(text)


def test_huge_repeat_is_refused_quickly():
    # Expanding `repeat: 1000000000` eagerly would run for days; it must be refused.
    text = CORPUS_BY_NAME["encoder-residual"].replace("repeat: 2", "repeat: 1000000000")
    err = check(text)
    assert err is not None and err.key_path == "encoder[1].repeat"


def test_many_layers_after_repeats_are_refused_or_built_quickly():
    # 1000 copies of 25 layers: 25,000 nodes if built.
    layers = "".join("      - {op: relu}\n" for _ in range(25))
    text = (
        "name: t\ninput: {channels: 3, height: 8, width: 8}\nclasses: 2\nencoder:\n"
        "  - stage: s\n    repeat: 1000\n    layers:\n" + layers
    )
    check(text)
