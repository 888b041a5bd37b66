"""The post's shape notation for torch's symbolic sizes: ``(s0, 8, s2*s3, 8)`` → ``(B, h, H*W, d)``.

:mod:`.symbolic` runs a block once with symbolic input sizes; every
intermediate size comes back as a sympy expression of torch's symbols ``s0, s1, …``. This
module names them the way the post writes shapes:

* each symbol gets its dimension name (``B``, ``C``, ``H``, ``W``);
* an input size that the weights pin to one value (usually ``C``: a conv's weight has exactly
  ``C`` input channels) stays a name, and a literal equal to it reads as that name (``C``,
  ``2*C``, ``C + H*W``);
* hyperparameters the module stores (``num_heads`` → ``h``, ``n_levels`` → ``n``,
  ``reduction`` → ``r``) name literals and divisors (``C//8`` → ``C/h`` = ``d``) only where the
  name follows a change of the hyperparameter (``moved``: forward rerun with it changed), so the
  2 of a k/v split is never h; a width that moves inversely with h reads ``16/h``;
* torch's chunk sizes read back: ``C - ⌈C/2⌉`` is ``C//2``, a split's ``C - C//2`` stays;
* a floor expression of one size, like ``(H − 1)//2 + 1``, is defined once as ``H'``.

A literal named after a pinned size (C, 2*C) is exact at the traced sizes (the tracer checks every
expression against the concrete shapes) but, for a layer's width, a reading of the constructor;
sizes that come from counting tensors (``stack`` of 4 maps, ``cat`` of max and mean) are never named.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import sympy
from .._torch_internals import CeilDiv, FloorDiv, Max, Min, Mod, PythonMod

__all__ = ["Notation", "compile_shapes", "COUNT_HPARAMS", "WIDTH_HPARAMS"]

# module attribute -> symbol, for hyperparameters that count things (heads, levels, …)
COUNT_HPARAMS = {"num_heads": "h", "heads": "h", "n_levels": "n", "reduction": "r"}
# module attribute -> symbol, for hyperparameters that are widths of their own
WIDTH_HPARAMS = {"out_channels": "C_out", "inner_channels": "d"}


def _name_symbol(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, integer=True, positive=True)


def _is_floor(e) -> bool:
    return isinstance(e, (FloorDiv, CeilDiv, Mod, PythonMod))


class Notation:
    """Prints one trace's expressions; remembers the primed names it defines.

    Args:
        symbols: torch's symbol -> dimension name.
        order: dimension names in display order (B, C, H, W, …).
        fixed: dimension name -> value, for input sizes the weights pinned to one value.
        counts: symbol -> (attribute, value), e.g. {"h": ("num_heads", 8)}.
        widths: symbol -> (attribute, value), e.g. {"C_out": ("out_channels", 64)}.
        pinned: value -> expression of the sizes that the weights fix to it (torch's symbols),
            e.g. {113: C + H*W} for a layer built for exactly C + H·W inputs.
    """

    def __init__(
        self,
        symbols: Mapping[sympy.Symbol, str],
        order: Iterable[str],
        fixed: Mapping[str, int],
        counts: Mapping[str, tuple[str, int]],
        widths: Mapping[str, tuple[str, int]],
        pinned: Mapping[int, sympy.Expr] | None = None,
        moved: Mapping[str, dict] | None = None,
        values: Mapping[str, int] | None = None,
    ) -> None:
        self.rename = {s: _name_symbol(n) for s, n in symbols.items()}
        self.order = {n: i for i, n in enumerate(order)}
        self.fixed = dict(fixed)
        self.counts = dict(counts)
        # count -> {"value": another value, "sizes": every row's shapes with it}: a literal takes a
        # name only if the name, evaluated there, gives that size too (the k/v split's 2 is not h)
        self.moved = dict(moved or {})
        self.values = {**dict(values or {}), **self.fixed, **{s: hv for s, (_, hv) in counts.items()}}
        self._moved_value: dict[tuple[str, str], int | None] = {}
        self._counts_off = False  # print divisors as numbers (set while reprinting a shape)
        self.widths = dict(widths)
        self.primes: dict[sympy.Expr, str] = {}  # compound floor expression -> H'
        self.used: set[str] = set()  # derived names that appear in printed shapes
        self.used_pinned: set[str] = set()  # pinned expressions that name a literal
        self.exact: list[tuple[sympy.Expr, sympy.Expr]] = []  # (a, k) printed as a/k: valid while k divides a
        self.pinned: dict[str, tuple[int, sympy.Expr]] = {}  # printed text -> (value, expression)
        pins = [(v, self.named(e)) for v, e in (pinned or {}).items()]
        # a pinned expression next to a pinned size: C + H*W for a layer built for C + H·W inputs
        pins += [(v + fv, _name_symbol(n) + e) for v, e in pins for n, fv in self.fixed.items()]
        for v, e in pins:
            text, _, reading = self._print(e)
            if v > 1 and text not in self.pinned:
                self.pinned[text] = (v, reading)
        self.candidates = self._table()

    def _table(self) -> dict[int, list[str]]:
        """Whole-dimension literal -> the names it may stand for, in the order they are handed out
        within one shape: (B, 8, 8, HW) with h = d = 8 reads (B, h, d, HW)."""
        counts = self.counts
        cand: dict[int, list[str]] = {}
        for n, v in self.fixed.items():
            cand.setdefault(v, []).append(n)
        if "h" in counts:
            cand.setdefault(counts["h"][1], []).append("h")
        for n, v in self.fixed.items():
            for s, (_, k) in counts.items():
                if k > 1 and v % k == 0:
                    cand.setdefault(v // k, []).append("d" if s == "h" and n == "C" else f"{n}/{s}")
                elif k > 1:
                    cand.setdefault(v // k, []).append(f"{n}//{s}")
        for s, (_, v) in self.widths.items():
            cand.setdefault(v, []).append(s)
        for n, v in self.fixed.items():
            cand.setdefault(2 * v, []).append(f"2*{n}")
        for text, (v, _) in self.pinned.items():
            cand.setdefault(v, []).append(text)
        return {v: names for v, names in cand.items() if v > 1}

    def _from_pinned(self, own: list[str], v: int):
        """(text, reading) of a size computed from one pinned size alone: C, 2*C, C/2; else None."""
        if len(own) != 1 or v < 1:
            return None
        n = own[0]
        fv = self.fixed[n]
        if v == fv:
            return n, _name_symbol(n)
        if v == 2 * fv:
            return f"2*{n}", 2 * _name_symbol(n)
        if fv % v == 0:
            return f"{n}/{fv // v}", self._exact(_name_symbol(n), sympy.Integer(fv // v))
        return None

    def _inverse(self, v: int, where: tuple | None, axis: int):
        """``16/h`` for a size that moves inversely with a count (a layer's width split into heads)."""
        if where is None:
            return None
        row, out = where
        for count, moved in self.moved.items():
            try:
                size = moved["sizes"][row][out][axis]
            except IndexError:
                continue
            k = self.counts[count][1]
            if size != v and v * k == size * moved["value"] and all(
                    m["sizes"][row][out][axis] == v for c, m in self.moved.items() if c != count):
                self.used.add(count)
                return f"{v * k}/{count}", self._exact(sympy.Integer(v * k), _name_symbol(count))
        return None

    def _follows(self, reading, where: tuple | None, axis: int) -> bool:
        """Does a reading that uses a count still give this axis's size when the count changes?"""
        used = [x for x in reading.free_symbols if str(x) in self.moved]
        if not used or where is None:
            return True
        row, out = where
        subs = {_name_symbol(n): v for n, v in self.values.items()}
        for x in used:
            moved = self.moved[str(x)]
            try:
                if int(sympy.sympify(reading).xreplace({**subs, x: moved["value"]})) != moved["sizes"][row][out][axis]:
                    return False
            except (TypeError, ValueError, IndexError):
                return False
        return True

    def _holds(self, name: str, where: tuple | None, axis: int) -> bool:
        """Does ``name`` give this axis's size under every intervention (a count set to another value)?"""
        if where is None or not self.moved:
            return True
        row, out = where
        for count, moved in self.moved.items():
            try:
                size = moved["sizes"][row][out][axis]
            except IndexError:
                return False
            key = (name, count)
            if key not in self._moved_value:
                reading = self._reading(name, track=False)
                subs = {_name_symbol(n): v for n, v in self.values.items()}
                subs[_name_symbol(count)] = moved["value"]
                try:
                    self._moved_value[key] = int(sympy.sympify(reading).xreplace(subs))
                except (TypeError, ValueError):
                    self._moved_value[key] = None
            if self._moved_value[key] != size:
                return False
        return True

    # ----------------------------------------------------------------- public
    def named(self, e) -> sympy.Expr:
        """``e`` with torch's symbols replaced by named symbols."""
        return sympy.sympify(e).xreplace(self.rename)

    def shape(self, exprs: Iterable, structural: Iterable[int] = (), where: tuple | None = None) -> tuple[str, tuple]:
        """``(B, h, H*W, d)`` and, per axis, the same reading as an expression of the names.

        ``structural`` axes hold counts of tensors and keep their numbers. The expressions use
        the dimension names, the hyperparameter symbols (h, n, r, …) and the primed names' own
        definitions, so the reading can be checked at other sizes and other hyperparameters.
        """
        structural = set(structural)
        candidates = self.candidates
        handed: dict[int, int] = {}
        parts, named = [], []
        for axis, raw in enumerate(exprs):
            e = self._tidy(self.named(raw))
            if not e.is_Integer and e.free_symbols and all(str(x) in self.fixed for x in e.free_symbols):
                # only pinned sizes: a number, read like any literal (C - 3*⌈C/4⌉ with C = 36 is 9 = C/n)
                own = [str(x) for x in e.free_symbols]
                e = sympy.sympify(e.xreplace({x: sympy.Integer(self.fixed[str(x)]) for x in e.free_symbols}))
            else:
                own = []
            if e.is_Integer:
                v = int(e)
                names = candidates.get(v) if axis not in structural else None
                names = [n for n in names or () if self._holds(n, where, axis)]
                mine = self._from_pinned(own, v) if axis not in structural else None
                if mine is not None and not names:
                    # computed from the pinned size alone: C - ⌈C/2⌉ with C = 6 is C/2
                    parts.append(mine[0])
                    named.append(mine[1])
                elif names:
                    i = handed.get(v, 0)
                    handed[v] = i + 1
                    name = names[min(i, len(names) - 1)]
                    self._use(name)
                    parts.append(name)
                    named.append(self._reading(name))
                elif (inverse := self._inverse(v, where, axis)) is not None:
                    parts.append(inverse[0])
                    named.append(inverse[1])
                else:
                    parts.append(str(v))
                    named.append(e)
            else:
                self._collect_primes(e)
                text, _, expr = self._print(e)
                if self.moved and not self._follows(expr, where, axis):
                    # a divisor equal to a count by value only (c // 2 with h = 2): print the number
                    self._counts_off = True
                    text, _, expr = self._print(e)
                    self._counts_off = False
                parts.append(text)
                named.append(expr)
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")", tuple(named)

    def naming_readings(self) -> list[tuple[str, sympy.Expr]]:
        """Every name a literal may receive, with its reading: the values these take decide the names."""
        names = sorted({n for group in self.candidates.values() for n in group})
        return [(n, self._reading(n, track=False)) for n in names]

    def hparam_values(self) -> dict[str, int]:
        """The hyperparameter symbols' values for this module: {"h": 8, …}."""
        return {s: v for s, (_, v) in {**self.counts, **self.widths}.items()}

    def _reading(self, name: str, track: bool = True) -> sympy.Expr:
        """The expression a printed literal name stands for: "d" -> C//h, "2*C" -> 2*C.

        ``track``: remember an exact division (C/r) among the conditions of this notation.
        """
        if name in self.pinned:
            return self.pinned[name][1]
        if name == "d" and "h" in self.counts and "d" not in self.widths:
            return self._exact(_name_symbol("C"), _name_symbol("h"), track)
        if name.startswith("2*"):
            return 2 * _name_symbol(name[2:])
        if "//" in name:
            a, k = name.split("//")
            return FloorDiv(_name_symbol(a), _name_symbol(k))
        if "/" in name:
            a, k = name.split("/")
            return self._exact(_name_symbol(a), _name_symbol(k), track)
        return _name_symbol(name)

    def _exact(self, a, k, track: bool = True) -> sympy.Expr:
        """a // k, printed a/k: remembered so that a cached reading is dropped where k stops dividing a."""
        if track and (a, k) not in self.exact:
            self.exact.append((a, k))
        return FloorDiv(a, k)

    def definitions(self) -> dict[str, str]:
        """Derived names used so far -> their definition, in the post's words."""
        out: dict[str, str] = {}
        for s, (attr, _) in self.counts.items():
            if s in self.used:
                out[s] = attr
        if "d" in self.used and "h" in self.counts and "C" in self.fixed:
            out["d"] = "C/h"
        for s, (attr, _) in self.widths.items():
            if s in self.used:
                out[s] = attr
        for e, name in self.primes.items():
            out[name] = self._pretty(e)
        return out

    def pinned_used(self) -> dict[str, int]:
        """Pinned expressions that named a literal: {"C + H*W": 113}."""
        return {t: v for t, (v, _) in self.pinned.items() if t in self.used_pinned}

    def prime_expressions(self) -> dict[str, sympy.Expr]:
        return {name: e for e, name in self.primes.items()}

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def _halves(e):
        """x - ⌊(x + 1)/2⌋ -> ⌊x/2⌋ and ⌊(x + 1)/2⌋ + ⌊x/2⌋ -> x: torch's two chunks of x, read back."""
        def rule(a):
            terms = list(sympy.Add.make_args(a))
            for t in terms:
                c, body = t.as_coeff_Mul()
                if c not in (1, -1) or not isinstance(body, FloorDiv) or body.args[1] != 2 or not body.args[0].is_Add:
                    continue
                const, x = body.args[0].as_coeff_Add()
                partner = FloorDiv(x, 2) if c == 1 else x  # ⌈x/2⌉ + ⌊x/2⌋, or x - ⌈x/2⌉
                if const == 1 and partner in terms:
                    rest = [u for u in terms if u is not t]
                    rest.remove(partner)
                    return sympy.Add(x if c == 1 else FloorDiv(x, 2), *rest)
            return a

        return e.replace(lambda x: x.is_Add, rule)

    def _tidy(self, e):
        """Identities torch leaves unsimplified: the two chunks of x add up to x (see :meth:`_halves`)."""
        return self._halves(e) if e.has(FloorDiv) else e

    def _use(self, name: str) -> None:
        if name in getattr(self, "pinned", {}):
            self.used_pinned.add(name)
            return
        for part in name.replace("*", "/").split("/"):
            if part:
                self.used.add(part)

    def _key(self, e) -> tuple:
        names = sorted((self.order.get(str(s), 99), str(s)) for s in e.free_symbols)
        return (0 if names else 1, names, str(e))

    def _single(self, e) -> sympy.Symbol | None:
        free = e.free_symbols
        if len(free) == 1:
            s = next(iter(free))
            if str(s) not in self.fixed and str(s) not in self.counts:
                return s
        return None

    def _simple_division(self, e) -> bool:
        """X//k or ⌈X/k⌉ with X a symbol: printed inline, not as a primed name."""
        if isinstance(e, (FloorDiv, CeilDiv)) and e.args[1].is_Integer:
            a = e.args[0]
            if a.is_Symbol:
                return True
            if isinstance(e, FloorDiv) and a.is_Add and len(a.args) == 2:
                const, rest = a.as_coeff_Add()
                return rest.is_Symbol and const == e.args[1] - 1
        return False

    def _simple_sum(self, e) -> bool:
        """C - C//2, C - ⌈C/2⌉: a size and simple divisions of it (a chunk, a split), printed inline."""
        return e.is_Add and all(
            t.is_Symbol or self._simple_division(t) or (t.is_Mul and t.as_coeff_Mul()[0] in (-1, 1)
                                                       and (t.as_coeff_Mul()[1].is_Symbol
                                                            or self._simple_division(t.as_coeff_Mul()[1])))
            for t in sympy.Add.make_args(e.as_coeff_Add()[1])) and e.as_coeff_Add()[0] == 0

    def _collect_primes(self, e) -> None:
        if e in self.primes:
            return
        s = self._single(e)
        if s is not None and e.has(FloorDiv, CeilDiv, Mod, PythonMod) and not self._simple_division(e) \
                and not self._simple_sum(e):
            base = str(s)
            taken = sum(1 for n in self.primes.values() if n.rstrip("'") == base)
            self.primes[e] = base + "'" * (taken + 1)
            return
        if self._simple_sum(e):
            return
        if e.is_Add or e.is_Mul or isinstance(e, (FloorDiv, CeilDiv, Max, Min, Mod, PythonMod)):
            for a in e.args:
                self._collect_primes(a)

    def _literal(self, v: int) -> tuple[str, sympy.Expr]:
        """An integer term or coefficient: a pinned size's name if it has that value."""
        for n, fv in self.fixed.items():
            if fv == v and v > 1:
                return n, _name_symbol(n)
        return str(v), sympy.Integer(v)

    def _divisor(self, k) -> tuple[str, sympy.Expr]:
        if k.is_Integer and not self._counts_off:
            for s, (_, v) in self.counts.items():
                if v == int(k) and v > 1:
                    return s, _name_symbol(s)
        text, _, expr = self._print(k)
        return text, expr

    def _print(self, e) -> tuple[str, int, sympy.Expr]:
        """(text, precedence: 3 atom, 2 product, 1 sum, the reading as an expression of names)."""
        if e in self.primes:
            return self.primes[e], 3, e
        if e.is_Integer:
            return str(int(e)), 3 if e >= 0 else 1, e
        if e.is_Symbol:
            if str(e) in self.counts:
                self.used.add(str(e))
            return str(e), 3, e
        if e.is_Add:
            const, rest = e.as_coeff_Add()
            # positive terms first: C - C//2, not -C//2 + C
            terms = sorted(sympy.Add.make_args(rest), key=lambda t: (bool(t.as_coeff_Mul()[0] < 0), self._key(t)))
            text, total = "", sympy.Integer(0)
            for t in terms:
                coeff, _ = t.as_coeff_Mul()
                if coeff < 0:
                    body, _, x = self._print(-t)
                    text += f" - {body}" if text else f"-{body}"
                    total -= x
                else:
                    body, _, x = self._print(t)
                    text += (" + " if text else "") + body
                    total += x
            if const:
                c = int(const)
                if c > 0:
                    term, x = self._literal(c)
                    text = f"{term} + {text}" if term != str(c) else f"{text} + {c}"
                    total += x
                else:
                    text += f" - {-c}"
                    total += c
            return text, 1, total
        if e.is_Mul:
            coeff, rest = e.as_coeff_Mul()
            factors = sorted(sympy.Mul.make_args(rest), key=self._key)
            parts, total = [], sympy.Integer(1)
            for f in factors:
                t, p, x = self._print(f)
                parts.append(t if p >= 2 else f"({t})")
                total *= x
            body = "*".join(parts)
            if coeff == 1:
                return body, 2, total
            if coeff == -1:
                return f"-{body}", 1, -total
            text, x = self._literal(int(coeff))
            return f"{text}*{body}", 2, x * total
        if isinstance(e, (FloorDiv, CeilDiv)):
            a, k = e.args
            ceil = isinstance(e, CeilDiv)
            if isinstance(e, FloorDiv) and a.is_Add and k.is_Integer:
                const, rest = a.as_coeff_Add()
                if const == k - 1 and rest.is_Symbol:
                    a, ceil = rest, True
            if a.is_Symbol and str(a) in self.fixed and k.is_Integer and self.fixed[str(a)] % int(k) == 0:
                # the weights pin this size and it divides evenly: the post's C/h
                kt, kx = self._divisor(k)
                text = f"{a}/{kt}"
                if text == "C/h" and "h" in self.counts and "d" not in self.widths:
                    self._use("d")
                    return "d", 3, self._exact(a, kx)
                self._use(text)
                return text, 2, self._exact(a, kx)
            ta, pa, xa = self._print(a)
            tk, pk, xk = self._print(k)
            ta = ta if pa >= 3 else f"({ta})"
            tk = tk if pk >= 3 else f"({tk})"
            if ceil:
                return f"⌈{ta}/{tk}⌉", 3, CeilDiv(xa, xk)
            return f"{ta}//{tk}", 2, FloorDiv(xa, xk)
        if isinstance(e, (Mod, PythonMod)):
            ta, pa, xa = self._print(e.args[0])
            tk, pk, xk = self._print(e.args[1])
            text = f"{ta if pa >= 3 else '(' + ta + ')'} % {tk if pk >= 3 else '(' + tk + ')'}"
            return text, 2, PythonMod(xa, xk)
        if isinstance(e, (Max, Min)):
            name = "max" if isinstance(e, Max) else "min"
            printed = [self._print(a) for a in e.args]
            return f"{name}(" + ", ".join(p[0] for p in printed) + ")", 3, e.func(*(p[2] for p in printed))
        if e.is_Pow and e.exp.is_Integer and e.exp > 0:
            t, p, x = self._print(e.base)
            return f"{t if p >= 3 else '(' + t + ')'}**{int(e.exp)}", 3, x ** e.exp
        return str(e), 3, e

    def _pretty(self, e) -> str:
        """A definition in the post's notation: ⌊(H − 1)/2⌋ + 1."""
        if e.is_Integer or e.is_Symbol:
            return str(e).replace("-", "−")
        if e.is_Add:
            const, rest = e.as_coeff_Add()
            terms = sorted(sympy.Add.make_args(rest), key=self._key)
            text = ""
            for t in terms:
                coeff, _ = t.as_coeff_Mul()
                if coeff < 0:
                    text += (" − " if text else "−") + self._pretty(-t)
                else:
                    text += (" + " if text else "") + self._pretty(t)
            if const:
                text += f" + {int(const)}" if const > 0 else f" − {-int(const)}"
            return text
        if e.is_Mul:
            coeff, rest = e.as_coeff_Mul()
            parts = [self._pretty(f) if not f.is_Add else f"({self._pretty(f)})" for f in sympy.Mul.make_args(rest)]
            body = "·".join(parts)
            return body if coeff == 1 else f"{int(coeff)}{body}" if coeff > 0 else f"−{body}"
        if isinstance(e, (FloorDiv, CeilDiv)):
            a, k = (self._pretty(x) if not (x.is_Add or x.is_Mul) else f"({self._pretty(x)})" for x in e.args)
            return f"⌊{a}/{k}⌋" if isinstance(e, FloorDiv) else f"⌈{a}/{k}⌉"
        if isinstance(e, (Mod, PythonMod)):
            return f"({self._pretty(e.args[0])} mod {self._pretty(e.args[1])})"
        if isinstance(e, (Max, Min)):
            return ("max" if isinstance(e, Max) else "min") + "(" + ", ".join(self._pretty(a) for a in e.args) + ")"
        return str(e)


# ------------------------------------------------------------------ evaluation
def _py(e, names: Mapping[sympy.Symbol, str]) -> str:
    """Python source computing ``e`` from a dict ``v`` of sizes; raises TypeError for other functions."""
    if e.is_Integer:
        return str(int(e))
    if e.is_Symbol:
        return f"v[{names[e]!r}]"
    if e.is_Add:
        return "(" + " + ".join(_py(a, names) for a in e.args) + ")"
    if e.is_Mul:
        return "(" + " * ".join(_py(a, names) for a in e.args) + ")"
    if e.is_Pow and e.exp.is_Integer and e.exp >= 0:
        return f"({_py(e.base, names)} ** {int(e.exp)})"
    if isinstance(e, FloorDiv):
        return f"({_py(e.args[0], names)} // {_py(e.args[1], names)})"
    if isinstance(e, CeilDiv):
        return f"(-((-{_py(e.args[0], names)}) // {_py(e.args[1], names)}))"
    if isinstance(e, (Mod, PythonMod)):
        return f"({_py(e.args[0], names)} % {_py(e.args[1], names)})"
    if isinstance(e, (Max, Min)):
        fn = "max" if isinstance(e, Max) else "min"
        return f"{fn}(" + ", ".join(_py(a, names) for a in e.args) + ")"
    raise TypeError(f"no Python form for {type(e).__name__}")


def compile_shapes(rows: list[tuple[tuple, ...]], names: Mapping[sympy.Symbol, str]):
    """One function ``f(sizes) -> rows of shapes`` evaluating every expression at ``sizes``.

    ``rows`` holds, per trace row, a tuple of shapes (each a tuple of expressions). Unknown
    functions fall back to sympy substitution, so the result is always exact.
    """
    try:
        def tup(items: list[str]) -> str:
            return "(" + "".join(i + ", " for i in items) + ")"

        body = tup([tup([tup([_py(sympy.sympify(d), names) for d in shape]) for shape in row]) for row in rows])
        return eval(compile(f"lambda v: {body}", "<fusionlab.trace shapes>", "eval"), {})  # noqa: S307 (our own source)
    except (TypeError, KeyError, RecursionError, SyntaxError):
        by_name = {n: s for s, n in names.items()}

        def slow(sizes):
            subs = {by_name[n]: v for n, v in sizes.items() if n in by_name}
            return tuple(
                tuple(tuple(int(sympy.sympify(d).xreplace(subs)) for d in shape) for shape in row) for row in rows
            )

        return slow
