"""The machinery behind every exercise: the result object, concept questions and the build checker.

A build checker compares a learner's module with the package's block carrying fixed "post"
weights: constructor, state_dict keys and shapes, output structure and shape, then values in
eval mode (and training mode where BatchNorm makes them differ). When values differ it names
the first sub-module whose output differs (forward hooks on same-named sub-modules, in the
execution order of the chapter's solution) and which known mistake, if any, the answer
reproduces. Every failure, the learner's own exceptions included, comes back as a
:class:`Result` with a hint; ``check`` never raises.
"""
from __future__ import annotations

import copy
import operator
import os
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from .. import i18n
from .._torch_internals import _BatchNorm
from ..testing import randomize_norms

__all__ = ["Result", "Exercise", "ConceptExercise", "ModuleExercise", "FunctionExercise", "post_weights"]

ATOL, RTOL = 1e-5, 1e-4  # float32 round-off of a re-ordered but equal computation stays well below

# every learner-facing sentence of this module, per language (a Chinese edition adds "zh")
TEXT = {
    "en": {
        "pass_module": "Your {what} matches {ref} {cls} with the same weights loaded: same state_dict keys and "
                       "shapes, same output {shapes} in {modes} (largest difference {diff:.1e}).",
        "pass_function": "Your function matches the reference: same output {shapes} (largest difference {diff:.1e}).",
        "eval": "eval mode", "eval_train": "eval and training mode",
        "no_answer": "No answer yet: pass your {what} to check(), e.g. check({example}).",
        "not_module_class": "Expected a subclass of nn.Module, got the class {got}; your block must inherit from "
                            "nn.Module (class {example}(nn.Module): ...).",
        "wrong_type": "Expected your {what} (an nn.Module subclass or an instance of it), got {got}.",
        "class_not_function": "Expected a function like {signature}, got the class {got}; pass the function itself.",
        "not_callable": "Expected a function like {signature}, got {got} (not callable).",
        "construct_failed": "Building {call} raised {error}{where}. {ref_cap} constructor is {signature}.",
        "state_dict_failed": "Reading your module's state_dict raised {error}{where}.",
        "keys": "Your state_dict differs from that of {ref} {cls}: {parts}. Its sub-modules are {names}.",
        "instance_sizes": " Your instance was built with other sizes: build it as {call}, or pass the class and the "
                          "checker builds it.",
        "missing": "missing {keys}", "unexpected": "unexpected {keys}",
        "shapes": "shape of {items}", "shape_item": "{name} is {got} but should be {want}",
        "load_failed": "Loading the reference weights into your module raised {error}.",
        "forward_failed": "Your forward raised {error}{where} on inputs of shape {shapes}{mode}.",
        "call_failed": "Your function raised {error}{where} on inputs of shape {shapes}.",
        "where": " at {place}: `{line}`", "where_noline": " at {place}",
        "in_train": " in training mode",
        "not_tensor": "Your {what} returned {got}; it should return {want}.",
        "count": "Your {what} returns {got} tensor(s); it should return {want}: {shapes}.",
        "shape": "Output {index}has shape {got} but should have shape {want}.",
        "values": "Output shape {shapes} is right but the values differ (largest difference {diff:.3g}){mode}.",
        "train_only": " in training mode only (eval mode matches): in training mode BatchNorm normalises with the "
                      "batch's own statistics and updates its running ones; use nn.BatchNorm2d as a module, as the post "
                      "does",
        "cause": " Likely cause: {cause}.",
        "step_input": " The first step whose output differs is `{step}`, and its input already differs: look at your "
                      "code between `{previous}` and `{step}`.",
        "step_input_first": " The first step whose output differs is `{step}`, and its input already differs: look at "
                            "what your forward computes before calling `{step}`.",
        "step_own": " The first step whose output differs is `{step}`; it gets the same input as in the reference, so "
                    "the layer itself (or how you call it) differs.",
        "step_after": " Every sub-module output matches (the last one is `{step}`): the difference comes from the "
                      "operations your forward does itself after the sub-modules (weights, sums, reshapes).",
        "nan": " Your output contains NaN or inf.",
        "internal": "The checker itself failed ({error}); please report this. Your answer could not be checked.",
        "concept_right": "Right. {why}",
        "concept_wrong": "Not quite: {why} Try again.",
        "concept_format": "Answer with the option's letter ({letters}) or its index (0–{last}), got {got}.",
        "a_tensor": "a tensor of shape {shapes}", "tensors": "a tuple of {n} tensors {shapes}",
        "list_sep": ", ", "more": " and {n} more",
    },
    "zh": {
        "pass_module": "你的{what}与{ref} {cls} 一致（载入同一组权重）：state_dict 的键和形状相同，"
                       "{modes}下输出 {shapes} 相同（最大差 {diff:.1e}）。",
        "pass_function": "你的函数与参考实现一致：输出 {shapes} 相同（最大差 {diff:.1e}）。",
        "eval": "评估模式", "eval_train": "评估模式和训练模式",
        "no_answer": "还没有答案：把你的{what}传给 check()，例如 check({example})。",
        "not_module_class": "需要一个 nn.Module 的子类，得到的是类 {got}；你的模块必须继承 nn.Module"
                            "（class {example}(nn.Module): ...）。",
        "wrong_type": "需要你的{what}（nn.Module 的子类或它的实例），得到的是 {got}。",
        "class_not_function": "需要一个形如 {signature} 的函数，得到的是类 {got}；请传入函数本身。",
        "not_callable": "需要一个形如 {signature} 的函数，得到的是 {got}（不可调用）。",
        "construct_failed": "构造 {call} 时抛出 {error}{where}。{ref_cap}的构造函数是 {signature}。",
        "state_dict_failed": "读取你的模块的 state_dict 时抛出 {error}{where}。",
        "keys": "你的 state_dict 与{ref} {cls} 的不同：{parts}。它的子模块是 {names}。",
        "instance_sizes": " 你的实例是用别的尺寸构造的：请按 {call} 构造，或者直接传入类，由检查器来构造。",
        "missing": "缺少 {keys}", "unexpected": "多出 {keys}",
        "shapes": "形状不同：{items}", "shape_item": "{name} 是 {got}，应为 {want}",
        "load_failed": "把参考权重载入你的模块时抛出 {error}。",
        "forward_failed": "你的 forward 在形状为 {shapes} 的输入上{mode}抛出 {error}{where}。",
        "call_failed": "你的函数在形状为 {shapes} 的输入上抛出 {error}{where}。",
        "where": "，位置 {place}：`{line}`", "where_noline": "，位置 {place}",
        "in_train": "（训练模式）",
        "not_tensor": "你的{what}返回了 {got}；应返回 {want}。",
        "count": "你的{what}返回 {got} 个张量；应返回 {want} 个：{shapes}。",
        "shape": "输出{index}的形状是 {got}，应为 {want}。",
        "values": "输出形状 {shapes} 正确，但数值不同（最大差 {diff:.3g}）{mode}。",
        "train_only": "，而且只在训练模式下不同（评估模式一致）：训练模式下 BatchNorm 用当前批量自己的统计量做归一化，"
                      "并更新它的滑动统计量；请像原文那样把 nn.BatchNorm2d 当作模块来用",
        "cause": " 可能的原因：{cause}。",
        "step_input": " 第一个输出不同的步骤是 `{step}`，而它的输入就已经不同了：请检查你在 `{previous}` 和 "
                      "`{step}` 之间的代码。",
        "step_input_first": " 第一个输出不同的步骤是 `{step}`，而它的输入就已经不同了：请检查你的 forward 在调用 "
                            "`{step}` 之前算了什么。",
        "step_own": " 第一个输出不同的步骤是 `{step}`；它的输入与参考实现相同，所以是这一层本身（或你调用它的方式）不同。",
        "step_after": " 每个子模块的输出都一致（最后一个是 `{step}`）：差别来自你的 forward 在子模块之后自己做的运算"
                      "（加权、求和、reshape）。",
        "nan": " 你的输出里有 NaN 或 inf。",
        "internal": "检查器本身出错了（{error}），请报告这个问题。你的答案没能被检查。",
        "concept_right": "答对了。{why}",
        "concept_wrong": "还不对：{why} 再试一次。",
        "concept_format": "请用选项的字母（{letters}）或序号（0–{last}）作答，得到的是 {got}。",
        "a_tensor": "形状为 {shapes} 的张量", "tensors": "由 {n} 个张量组成的元组 {shapes}",
        "list_sep": "、", "more": " 等（另有 {n} 个）",
    },
}


def say(table: Mapping[str, Mapping[str, str]], lang: str | None, key: str, **fields: Any) -> str:
    """The sentence ``key`` of ``table`` in ``lang`` (None: the course's current language, see
    :mod:`fusionlab.i18n`; English where the language lacks it), filled in."""
    text = i18n.say(table, key, lang).format(**fields)
    return i18n.space_cjk(text) if i18n.resolve(lang) == "zh" else text


def _t(lang: str, key: str, **fields: Any) -> str:
    return say(TEXT, lang, key, **fields)


@dataclass
class Result:
    """The outcome of ``check(answer)``: ``passed``, a one-paragraph ``hint``, and for build exercises
    the first differing ``step`` and the known mistake ``cause`` (a key of the exercise's mistakes)."""

    passed: bool
    hint: str
    step: str | None = None
    cause: str | None = None

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return ("✓ " if self.passed else "✗ ") + self.hint

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython shows the sentence, not the dataclass
        printer.text(str(self))


# ---------------------------------------------------------------- helpers

def fmt_shape(shape) -> str:
    dims = tuple(int(d) for d in shape)
    return "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"


def _listing(items: Sequence[str], lang: str | None = None, limit: int = 6) -> str:
    shown = _t(lang, "list_sep").join(f"`{k}`" for k in items[:limit])
    return shown + (_t(lang, "more", n=len(items) - limit) if len(items) > limit else "")


_INTERNAL = tuple(
    os.path.normcase(os.path.abspath(p)) + os.sep
    for p in (os.path.dirname(torch.__file__), os.path.dirname(__file__), os.path.dirname(os.__file__))
)


def _is_internal(filename: str) -> bool:
    path = os.path.normcase(os.path.abspath(filename))
    if "site-packages" in path and not path.startswith(_INTERNAL[0]):
        return False  # code installed beside torch is not ours
    return path.startswith(_INTERNAL)


def _place(filename: str, lineno: int) -> str:
    if "ipykernel" in filename or filename.startswith("<ipython-input"):
        return f"line {lineno} of your notebook cell"
    return f"line {lineno} of {os.path.basename(filename)}"


def describe_error(err: BaseException, lang: str | None = None) -> tuple[str, str]:
    """(``"TypeError: message"``, ``" at line 5 of your notebook cell: `source`"``) for an exception,
    the place being the innermost frame outside torch, the standard library and this package."""
    message = str(err).strip().splitlines()[0] if str(err).strip() else ""
    if len(message) > 300:
        message = message[:297] + "…"
    error = type(err).__name__ + (f": {message}" if message else "")
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        if not _is_internal(frame.filename):
            place = _place(frame.filename, frame.lineno)
            line = (frame.line or "").strip()
            where = _t(lang, "where", place=place, line=line) if line else _t(lang, "where_noline", place=place)
            return error, where
    return error, ""


def _as_outputs(value) -> tuple[torch.Tensor, ...] | None:
    """A forward's result as a tuple of tensors, or None if it is something else."""
    if isinstance(value, torch.Tensor):
        return (value,)
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, torch.Tensor) for v in value):
        return tuple(value)
    return None


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and bool(torch.allclose(a, b, atol=ATOL, rtol=RTOL))


def _same(outs: Sequence[torch.Tensor] | None, refs: Sequence[torch.Tensor] | None) -> bool:
    return outs is not None and refs is not None and len(outs) == len(refs) and all(map(_close, outs, refs))


def _max_diff(outs: Sequence[torch.Tensor], refs: Sequence[torch.Tensor]) -> float:
    diffs = [(o.double() - r.double()).abs().max().item() for o, r in zip(outs, refs) if o.numel()]
    return max(diffs, default=0.0)


def post_weights(cls: type[nn.Module], kwargs: Mapping[str, Any], seed: int = 0) -> nn.Module:
    """``cls(**kwargs)`` with seeded weights and randomised BatchNorms, in eval mode; the global RNG is untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        block = cls(**kwargs)
    randomize_norms(block, seed=seed + 1)
    return block.eval()


def seeded_inputs(shapes: Sequence[Sequence[int]], seed: int = 0) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(tuple(s), generator=gen) for s in shapes)


# ---------------------------------------------------------------- exercises

@dataclass
class Exercise:
    """One exercise of a chapter. ``texts[lang]`` holds its learner-facing strings (``title``, ``prompt``, …)."""

    chapter: str
    name: str
    kind: str
    texts: Mapping[str, Mapping[str, Any]]

    def text(self, key: str, lang: str | None = None) -> Any:
        return i18n.say(self.texts, key, lang)

    @property
    def title(self) -> str:
        return self.text("title")

    @property
    def prompt(self) -> str:
        return self.text("prompt")

    def solution(self) -> Any:
        raise NotImplementedError

    def check(self, answer: Any, lang: str | None = None) -> Result:
        """Check ``answer``; never raises (a failure of the checker itself comes back as a failed Result)."""
        lang = i18n.resolve(lang)
        try:
            return self._check(answer, lang)
        except Exception as err:  # noqa: BLE001 — the learner must never see a traceback
            error, _ = describe_error(err, lang)
            return Result(False, _t(lang, "internal", error=error))

    def _check(self, answer: Any, lang: str) -> Result:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{self.kind} exercise {self.chapter}/{self.name}: {self.title}>"


@dataclass(repr=False)
class ConceptExercise(Exercise):
    """A multiple-choice question: ``texts[lang]`` has ``question``, ``options`` and ``why`` (one
    explanation per option); ``correct`` is the index of the right option."""

    correct: int = 0

    @property
    def prompt(self) -> str:
        return self.text("question")

    @property
    def options(self) -> list[str]:
        return list(self.text("options"))

    def solution(self) -> str:
        return "abcdefgh"[self.correct]

    def _index(self, answer: Any) -> int | None:
        n = len(self.options)
        if isinstance(answer, str):
            letter = answer.strip().rstrip(").").strip().lower()
            if len(letter) == 1 and "a" <= letter < chr(ord("a") + n):
                return ord(letter) - ord("a")
            return None
        if isinstance(answer, bool):
            return None
        try:
            index = operator.index(answer)
        except TypeError:
            return None
        return index if 0 <= index < n else None

    def _check(self, answer: Any, lang: str) -> Result:
        index = self._index(answer)
        n = len(self.options)
        if index is None:
            letters = ", ".join("abcdefgh"[:n])
            return Result(False, _t(lang, "concept_format", letters=letters, last=n - 1, got=repr(answer)[:60]))
        why = self.text("why", lang)[index]
        if index == self.correct:
            return Result(True, _t(lang, "concept_right", why=why))
        return Result(False, _t(lang, "concept_wrong", why=why))


@dataclass(repr=False)
class ModuleExercise(Exercise):
    """Write a block (an nn.Module) from the equations; checked against the package's block with the post's weights.

    ``reference`` is the package class, ``kwargs`` the post's constructor arguments (the same names),
    ``solution_cls`` the chapter's learner-style solution (it must equal the reference; its forward
    calls its sub-modules, so it also gives the order of steps), ``mistakes`` maps a cause (a key of
    ``texts[lang]["mistakes"]``) to a class that makes that mistake.
    """

    reference: type[nn.Module] | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    input_shapes: Sequence[Sequence[int]] = ()
    solution_cls: type[nn.Module] | None = None
    mistakes: Mapping[str, type[nn.Module]] = field(default_factory=dict)
    helpers: Sequence[Any] = ()  # the solution's helper classes and functions, shown with it
    seed: int = 0

    def solution(self) -> type[nn.Module]:
        return self.solution_cls

    @property
    def call(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{self.text('post_class')}({args})"

    def reference_block(self) -> nn.Module:
        """A fresh package block with the post's weights, in eval mode."""
        return post_weights(self.reference, self.kwargs, self.seed)

    def inputs(self) -> tuple[torch.Tensor, ...]:
        return seeded_inputs(self.input_shapes, self.seed)

    def _instantiate(self, answer: Any, lang: str) -> tuple[nn.Module | None, Result | None]:
        what, example = self.text("what", lang), "My" + self.text("post_class")  # the name each prompt asks for
        if answer is None:
            return None, Result(False, _t(lang, "no_answer", what=what, example=example))
        if isinstance(answer, type):
            if not issubclass(answer, nn.Module):
                return None, Result(False, _t(lang, "not_module_class", got=answer.__name__, example=example))
            try:
                return answer(**self.kwargs), None
            except Exception as err:  # noqa: BLE001
                error, where = describe_error(err, lang)
                call = f"`{answer.__name__}({', '.join(f'{k}={v!r}' for k, v in self.kwargs.items())})`"
                ref = self.text("ref", lang)
                return None, Result(False, _t(lang, "construct_failed", call=call, error=error, where=where,
                                              ref_cap=ref[:1].upper() + ref[1:], signature=f"`{self.text('signature')}`"))
        if isinstance(answer, nn.Module):
            try:
                return copy.deepcopy(answer), None  # loading the post's weights must not change the learner's object
            except Exception:  # noqa: BLE001 — an uncopyable module is checked in place
                return answer, None
        return None, Result(False, _t(lang, "wrong_type", what=what, got=f"{type(answer).__name__} {answer!r}"[:80]))

    def _keys(self, module: nn.Module, reference: nn.Module, lang: str, instance: bool) -> Result | None:
        try:
            mine = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        except Exception as err:  # noqa: BLE001
            error, where = describe_error(err, lang)
            return Result(False, _t(lang, "state_dict_failed", error=error, where=where))
        want = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
        missing = [k for k in want if k not in mine]
        unexpected = [k for k in mine if k not in want]
        wrong = [k for k in want if k in mine and mine[k] != want[k]]
        if not (missing or unexpected or wrong):
            return None
        parts = []
        if missing:
            parts.append(_t(lang, "missing", keys=_listing(missing, lang)))
        if unexpected:
            parts.append(_t(lang, "unexpected", keys=_listing(unexpected, lang)))
        if wrong:
            items = "; ".join(_t(lang, "shape_item", name=f"`{k}`", got=fmt_shape(mine[k]), want=fmt_shape(want[k]))
                              for k in wrong[:4])
            parts.append(_t(lang, "shapes", items=items))
        names = _listing([n for n, _ in reference.named_children()], lang)
        extra = _t(lang, "instance_sizes", call=f"`{self.call}`") if wrong and instance else ""
        keys = _t(lang, "keys", parts="; ".join(parts), names=names, ref=self.text("ref", lang), cls=self.text("post_class"))
        return Result(False, keys + extra)

    def _run(self, module: nn.Module, inputs, train: bool):
        module.train(train)
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return module(*[x.clone() for x in inputs])  # clones: an in-place op must not leak into the next run

    def _compare(self, got, want: tuple[torch.Tensor, ...], lang: str, mode: str) -> tuple[Result | None, bool]:
        """(failure or None, whether only the values differ)."""
        what = self.text("what", lang)
        outs = _as_outputs(got)
        shapes = ", ".join(fmt_shape(w.shape) for w in want)
        if outs is None:
            want_text = (_t(lang, "a_tensor", shapes=shapes) if len(want) == 1
                         else _t(lang, "tensors", n=len(want), shapes=shapes))
            return Result(False, _t(lang, "not_tensor", what=what, got=type(got).__name__, want=want_text)), False
        if len(outs) != len(want):
            return Result(False, _t(lang, "count", what=what, got=len(outs), want=len(want), shapes=shapes)), False
        for i, (o, w) in enumerate(zip(outs, want)):
            if o.shape != w.shape:
                index = f"{i} " if len(want) > 1 else ""
                return Result(False, _t(lang, "shape", index=index, got=fmt_shape(o.shape),
                                        want=fmt_shape(w.shape))), False
        if _same([o.to(w.dtype) for o, w in zip(outs, want)], want):
            return None, False
        return Result(False, _t(lang, "values", shapes=shapes, diff=_max_diff(outs, want), mode=mode)), True

    def _steps(self, module: nn.Module, inputs, train: bool) -> list[tuple[str, int, Any, Any]]:
        """(name, call index, first input, output) of every sub-module call, in the order calls finish."""
        records: list[tuple[str, int, Any, Any]] = []
        counts: dict[str, int] = {}

        def first(value):
            value = value[0] if isinstance(value, (tuple, list)) and value else value
            return value.detach().clone() if isinstance(value, torch.Tensor) else None

        def hook(name):
            def record(mod, args, out):
                counts[name] = counts.get(name, 0) + 1
                records.append((name, counts[name] - 1, first(args), first(out)))
            return record

        handles = [m.register_forward_hook(hook(n)) for n, m in module.named_modules() if n]
        try:
            self._run(module, inputs, train)
        except Exception:  # noqa: BLE001 — a hook run that fails just gives no steps
            pass
        finally:
            for h in handles:
                h.remove()
        return records

    def _first_step(self, module: nn.Module, inputs, train: bool, state, lang: str) -> tuple[str, str | None]:
        solution = self.solution_cls(**self.kwargs)
        solution.load_state_dict(state)
        ours = self._steps(solution, inputs, train)
        theirs = {(n, i): (x, y) for n, i, x, y in self._steps(module, inputs, train)}
        previous = None
        for name, i, x, y in ours:
            if (name, i) not in theirs or y is None:
                continue
            their_x, their_y = theirs[(name, i)]
            if their_y is not None and _close(their_y, y):
                previous = name
                continue
            label = name if i == 0 else f"{name} (call {i + 1})"
            if x is not None and their_x is not None and not _close(their_x, x):
                if previous is None:
                    return _t(lang, "step_input_first", step=label), name
                return _t(lang, "step_input", step=label, previous=previous), name
            return _t(lang, "step_own", step=label), name
        return (_t(lang, "step_after", step=previous), None) if previous else ("", None)

    def _cause(self, got, inputs, train: bool, state) -> str | None:
        outs = _as_outputs(got)
        for cause, cls in self.mistakes.items():
            try:
                wrong = cls(**self.kwargs)
                wrong.load_state_dict(state)
                if _same(outs, _as_outputs(self._run(wrong, inputs, train))):
                    return cause
            except Exception:  # noqa: BLE001 — a mistake that cannot run here is simply not the cause
                continue
        return None

    def _diagnose(self, failure: Result, module, got, inputs, train: bool, state, lang: str) -> Result:
        cause = self._cause(got, inputs, train, state)
        hint = failure.hint
        if cause is not None:
            hint += _t(lang, "cause", cause=self.text("mistakes", lang)[cause])
        step_text, step = self._first_step(module, inputs, train, state, lang)
        outs = _as_outputs(got) or ()
        if any(not torch.isfinite(o).all() for o in outs if o.is_floating_point()):
            hint += _t(lang, "nan")
        return Result(False, hint + step_text, step=step, cause=cause)

    def _check(self, answer: Any, lang: str) -> Result:
        module, failure = self._instantiate(answer, lang)
        if failure is not None:
            return failure
        reference = self.reference_block()
        failure = self._keys(module, reference, lang, instance=not isinstance(answer, type))
        if failure is not None:
            return failure
        state = reference.state_dict()
        try:
            module.load_state_dict(state, strict=True)
        except Exception as err:  # noqa: BLE001
            return Result(False, _t(lang, "load_failed", error=describe_error(err, lang)[0]))
        inputs = self.inputs()
        shapes = ", ".join(fmt_shape(x.shape) for x in inputs)
        has_norm = any(isinstance(m, _BatchNorm) for m in reference.modules())
        modes = (False, True) if has_norm else (False,)
        diff = 0.0
        for train in modes:
            want = _as_outputs(self._run(copy.deepcopy(reference), inputs, train))
            module.load_state_dict(state)  # a training run updates running statistics: start each mode afresh
            try:
                got = self._run(module, inputs, train)
            except Exception as err:  # noqa: BLE001
                error, where = describe_error(err, lang)
                mode = _t(lang, "in_train") if train else ""
                return Result(False, _t(lang, "forward_failed", error=error, where=where, shapes=shapes, mode=mode))
            failure, values_only = self._compare(got, want, lang, _t(lang, "train_only") if train else "")
            if failure is not None:
                if values_only:
                    module.load_state_dict(state)
                    return self._diagnose(failure, module, got, inputs, train, state, lang)
                return failure
            diff = max(diff, _max_diff(_as_outputs(got), want))
        out_shapes = ", ".join(fmt_shape(w.shape) for w in want)
        return Result(True, _t(lang, "pass_module", what=self.text("what", lang), shapes=out_shapes, diff=diff,
                               ref=self.text("ref", lang), cls=self.text("post_class"),
                               modes=_t(lang, "eval_train" if has_norm else "eval")))


@dataclass(repr=False)
class FunctionExercise(Exercise):
    """Write a function (the core of a block) from the equations; checked against ``reference`` on fixed inputs."""

    reference: Callable | None = None
    solution_fn: Callable | None = None
    make_inputs: Callable[[], tuple] | None = None  # () -> positional arguments
    mistakes: Mapping[str, Callable] = field(default_factory=dict)
    helpers: Sequence[Any] = ()

    def solution(self) -> Callable:
        return self.solution_fn

    def _check(self, answer: Any, lang: str) -> Result:
        signature = f"`{self.text('signature')}`"
        if answer is None:
            return Result(False, _t(lang, "no_answer", what=self.text("what", lang), example=self.text("example")))
        if isinstance(answer, type):
            return Result(False, _t(lang, "class_not_function", signature=signature, got=answer.__name__))
        if not callable(answer):
            return Result(False, _t(lang, "not_callable", signature=signature, got=f"{type(answer).__name__}"))
        args = self.make_inputs()
        shapes = ", ".join(fmt_shape(a.shape) for a in args if isinstance(a, torch.Tensor))
        with torch.no_grad():
            want = _as_outputs(self.reference(*args))
            try:
                got = answer(*[a.clone() if isinstance(a, torch.Tensor) else a for a in args])
            except Exception as err:  # noqa: BLE001
                error, where = describe_error(err, lang)
                return Result(False, _t(lang, "call_failed", error=error, where=where, shapes=shapes))
        outs = _as_outputs(got)
        if outs is None or len(outs) != len(want):
            return Result(False, _t(lang, "not_tensor", what=self.text("what", lang), got=type(got).__name__,
                                    want=_t(lang, "a_tensor", shapes=fmt_shape(want[0].shape))))
        if outs[0].shape != want[0].shape:
            return Result(False, _t(lang, "shape", index="", got=fmt_shape(outs[0].shape), want=fmt_shape(want[0].shape)))
        if _same([o.to(w.dtype) for o, w in zip(outs, want)], want):
            return Result(True, _t(lang, "pass_function", shapes=fmt_shape(want[0].shape), diff=_max_diff(outs, want)))
        hint = _t(lang, "values", shapes=fmt_shape(want[0].shape), diff=_max_diff(outs, want), mode="")
        for cause, fn in self.mistakes.items():
            try:
                with torch.no_grad():
                    if _same(outs, _as_outputs(fn(*args))):
                        return Result(False, hint + _t(lang, "cause", cause=self.text("mistakes", lang)[cause]),
                                      cause=cause)
            except Exception:  # noqa: BLE001
                continue
        return Result(False, hint)

