"""Penalty builders, the automatic penalty rule, and constrained formulations.

Two ways to model a constraint, both on dimod's own machinery:

* **Penalty builders** return a BINARY ``dimod.BinaryQuadraticModel`` that is ``0`` exactly when
  the constraint holds (for the best value of its slack variables) and at least ``strength``
  when it is violated: :func:`one_hot`, :func:`exactly_k`, :func:`at_most_k`, :func:`capacity`.
  Add them to an objective with ``+``. :func:`load_balance` is a *soft* penalty (a squared
  deviation), not a hard constraint.
* **A constrained formulation**: a ``dimod.ConstrainedQuadraticModel`` holds the objective and
  the hard constraints; :func:`to_bqm` (or :class:`Problem`) turns it into the penalised BQM
  that solvers see, and :meth:`Problem.decode` reads a sample back: original variables only,
  the domain solution, the objective, and every violated constraint.

:func:`auto_penalty` gives a penalty weight that *guarantees* the penalised optimum is feasible
(see its docstring for the argument).

>>> import dimod
>>> from qcore.constraints import auto_penalty, one_hot
>>> objective = dimod.BinaryQuadraticModel({"a": 1.0, "b": 2.0, "c": 3.0}, {}, 0.0, "BINARY")
>>> bqm = objective + one_hot(["a", "b", "c"], strength=auto_penalty(objective))
>>> best = dimod.ExactSolver().sample(bqm).first.sample
>>> [v for v in best if best[v]]
['a']
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import dimod
import numpy as np
from dimod.views.quadratic import QuadraticViewsMixin

from qcore.errors import InvalidProblem

__all__ = [
    "Decoded",
    "Problem",
    "Violation",
    "at_most_k",
    "auto_penalty",
    "capacity",
    "exactly_k",
    "load_balance",
    "one_hot",
    "to_bqm",
]

Penalty = float | Literal["auto"]

#: amounts of violation at or below this count as satisfied (violations are integers here)
FEASIBILITY_TOL = 1e-9


# --------------------------------------------------------------------------- argument checks


def _variables(variables: object, field_name: str = "variables") -> list[Hashable]:
    if isinstance(variables, str | bytes) or not isinstance(variables, Iterable):
        raise InvalidProblem(
            f"{field_name}: expected an iterable of variable labels (e.g. a list), got "
            f"{type(variables).__name__}; pass a list such as ['a', 'b', 'c']."
        )
    labels = list(variables)
    if not labels:
        raise InvalidProblem(f"{field_name}: is empty; pass at least one variable label.")
    seen: set[Hashable] = set()
    for v in labels:
        if not isinstance(v, Hashable):
            raise InvalidProblem(
                f"{field_name}: label {v!r} is not hashable; use str, int or tuple labels."
            )
        if v in seen:
            raise InvalidProblem(f"{field_name}: label {v!r} appears twice; list each once.")
        seen.add(v)
    return labels


def _strength(strength: object, field_name: str = "strength") -> float:
    if isinstance(strength, bool) or not isinstance(strength, numbers.Real):
        raise InvalidProblem(
            f"{field_name}: expected a positive number, got {type(strength).__name__}; "
            "use qcore.constraints.auto_penalty(objective) if unsure."
        )
    value = float(strength)
    if not math.isfinite(value) or value <= 0:
        raise InvalidProblem(
            f"{field_name}: is {value}; it must be a finite number > 0 "
            "(use qcore.constraints.auto_penalty(objective) if unsure)."
        )
    return value


def check_integer(value: object, field_name: str, *, minimum: int | None = None) -> int:
    """An integral number (int, numpy integer or integral float) as ``int``, else InvalidProblem."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidProblem(
            f"{field_name}: expected an integer, got {type(value).__name__} ({value!r})."
        )
    number = float(value)
    if not math.isfinite(number):
        raise InvalidProblem(f"{field_name}: is {number}; it must be a finite integer.")
    if number != math.floor(number):
        raise InvalidProblem(
            f"{field_name}: is {value!r}, not an integer. Hard constraints need integer "
            "weights so that a violation costs at least 1; scale the weights and the bound to "
            "integers (e.g. multiply by 10 or 100 and round)."
        )
    result = int(value)
    if minimum is not None and result < minimum:
        raise InvalidProblem(f"{field_name}: is {result}; it must be >= {minimum}.")
    return result


def _count(k: object, n: int, field_name: str = "k") -> int:
    value = check_integer(k, field_name, minimum=0)
    if value > n:
        raise InvalidProblem(
            f"{field_name}: is {value} but there are only {n} variables; use 0 <= {field_name} "
            f"<= {n}."
        )
    return value


def _label(label: object) -> str:
    if not isinstance(label, str) or not label:
        raise InvalidProblem(
            f"label: expected a non-empty str naming the constraint's slack variables, got "
            f"{label!r}; give each constraint its own label (e.g. 'cap_bin0')."
        )
    return label


def _check_slack_free(label: str, variables: Iterable[Hashable]) -> None:
    prefix = f"slack_{label}_"
    clash = [v for v in variables if isinstance(v, str) and v.startswith(prefix)]
    if clash:
        raise InvalidProblem(
            f"label: slack variables are named '{prefix}<j>', which clashes with the "
            f"variable {clash[0]!r}; choose another label."
        )


def _empty(variables: Iterable[Hashable]) -> dimod.BinaryQuadraticModel:
    bqm = dimod.BinaryQuadraticModel(dimod.BINARY)
    bqm.add_variables_from((v, 0.0) for v in variables)
    return bqm


# --------------------------------------------------------------------------- penalty builders


def one_hot(variables: Iterable[Hashable], strength: float) -> dimod.BinaryQuadraticModel:
    """``strength * (sum(x) - 1)**2``: zero iff exactly one of ``variables`` is 1."""
    return exactly_k(variables, 1, strength)


def exactly_k(variables: Iterable[Hashable], k: int, strength: float) -> dimod.BinaryQuadraticModel:
    """``strength * (sum(x) - k)**2``: zero iff exactly ``k`` of ``variables`` are 1.

    Built with ``dimod.generators.combinations``; every violation costs at least ``strength``.
    """
    labels = _variables(variables)
    count = _count(k, len(labels))
    return dimod.generators.combinations(labels, count, strength=_strength(strength))


def at_most_k(
    variables: Iterable[Hashable], k: int, strength: float, label: str
) -> dimod.BinaryQuadraticModel:
    """``sum(x) <= k`` as ``strength * (sum(x) + slack - k)**2`` with binary slack variables.

    The slack ``0..k`` is encoded in ``O(log k)`` binary variables named ``slack_<label>_<j>``
    (dimod's ``add_linear_inequality_constraint``), so ``label`` must differ between
    constraints of one model. Minimised over the slack, the penalty is
    ``strength * max(0, sum(x) - k)**2``. If ``k >= len(variables)`` the constraint always holds
    and the model has no slack and no biases.
    """
    labels = _variables(variables)
    count = _count(k, len(labels))
    weight = _strength(strength)
    name = _label(label)
    _check_slack_free(name, labels)
    if count >= len(labels):
        return _empty(labels)
    bqm = _empty(labels)
    bqm.add_linear_inequality_constraint([(v, 1) for v in labels], weight, name, ub=count)
    return bqm


def capacity(
    weights: Mapping[Hashable, int], capacity: int, strength: float, label: str
) -> dimod.BinaryQuadraticModel:
    """``sum(weights[v] * x[v]) <= capacity`` with binary slack variables ``slack_<label>_<j>``.

    Weights and capacity must be non-negative integers (scale fractional sizes to integers):
    then every violation costs at least ``strength``, which is what :func:`auto_penalty`
    relies on. Minimised over the slack, the penalty is
    ``strength * max(0, load - capacity)**2``. If the weights sum to at most ``capacity`` the
    constraint always holds and the model has no slack and no biases.
    """
    if not isinstance(weights, Mapping):
        raise InvalidProblem(
            f"weights: expected a mapping variable -> integer weight, got "
            f"{type(weights).__name__}; e.g. {{'x0': 3, 'x1': 5}}."
        )
    labels = _variables(weights.keys(), "weights")
    sizes = {v: check_integer(weights[v], f"weights[{v!r}]", minimum=0) for v in labels}
    limit = check_integer(capacity, "capacity", minimum=0)
    weight = _strength(strength)
    name = _label(label)
    _check_slack_free(name, labels)
    if sum(sizes.values()) <= limit:
        return _empty(labels)
    bqm = _empty(labels)
    bqm.add_linear_inequality_constraint(list(sizes.items()), weight, name, ub=limit)
    return bqm


def load_balance(
    groups: Mapping[Hashable, Mapping[Hashable, float] | Iterable[Hashable]]
    | Sequence[Mapping[Hashable, float] | Iterable[Hashable]],
    strength: float,
) -> dimod.BinaryQuadraticModel:
    """Soft penalty ``strength * sum_g (load_g - mean_load)**2``.

    ``groups`` holds one entry per group (a sequence, or a mapping from group name): either a
    mapping ``variable -> load`` (the load the variable adds to the group when it is 1) or an
    iterable of variables (load 1 each). ``load_g = sum(load[v] * x[v] for v in g)`` and
    ``mean_load`` is the mean over the groups. This is a soft objective term: it has no slack,
    loads may be fractional, and it is not covered by the :func:`auto_penalty` guarantee
    (add it to the objective *before* calling ``auto_penalty``).
    """
    if isinstance(groups, str | bytes) or not isinstance(groups, Mapping | Sequence):
        raise InvalidProblem(
            f"groups: expected a sequence (or mapping) of groups, got {type(groups).__name__}; "
            "e.g. [{'x0': 2.0, 'x1': 1.0}, ['x2', 'x3']]."
        )
    entries = list(groups.items()) if isinstance(groups, Mapping) else list(enumerate(groups))
    if not entries:
        raise InvalidProblem("groups: is empty; pass at least one group.")
    weight = _strength(strength)
    loads: list[dict[Hashable, float]] = []
    for key, group in entries:
        where = f"groups[{key!r}]"
        if isinstance(group, Mapping):
            members = _variables(group.keys(), where) if group else []
            loads.append({v: _finite(group[v], f"{where}[{v!r}]") for v in members})
        elif isinstance(group, Iterable) and not isinstance(group, str | bytes):
            members = list(group)
            loads.append(dict.fromkeys(_variables(members, where) if members else [], 1.0))
        else:
            raise InvalidProblem(
                f"{where}: expected a mapping variable -> load or a list of variables, got "
                f"{type(group).__name__}."
            )
    variables = list(dict.fromkeys(v for group in loads for v in group))
    if not variables:
        raise InvalidProblem("groups: every group is empty; put at least one variable in one.")
    mean = {v: sum(group.get(v, 0.0) for group in loads) / len(loads) for v in variables}
    bqm = _empty(variables)
    for group in loads:
        terms = [(v, group.get(v, 0.0) - mean[v]) for v in variables]
        bqm.add_linear_equality_constraint(terms, weight, 0.0)
    return bqm


def _finite(value: object, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidProblem(
            f"{field_name}: expected a number, got {type(value).__name__} ({value!r})."
        )
    number = float(value)
    if not math.isfinite(number):
        raise InvalidProblem(f"{field_name}: is {number}; it must be a finite number.")
    return number


# --------------------------------------------------------------------------- penalty rule


def auto_penalty(objective: dimod.BinaryQuadraticModel | QuadraticViewsMixin) -> float:
    """A penalty weight under which the penalised optimum is always feasible.

    Returns ``P = 1 + sum(|a_i|) + sum(|b_ij|)`` over the linear biases ``a`` and quadratic
    biases ``b`` of ``objective`` written in BINARY form (SPIN objectives are converted first).

    Why it works. In BINARY form every term ``a_i x_i`` or ``b_ij x_i x_j`` lies between
    ``min(0, c)`` and ``max(0, c)``, so ``max f - min f <= sum |c| = P - 1`` over all
    assignments. The builders here and :func:`to_bqm` add each hard constraint as
    ``P * r(x, s)**2``, where the residual ``r`` is an integer whenever the constraint's
    weights and bound are integers (they are checked) and the slack ``s`` is an integer
    combination of binary variables that can take every value the constraint needs. So a
    feasible ``x`` has penalty ``0`` for its best slack, and an infeasible ``x`` has
    ``|r| >= 1`` for *every* slack, hence penalty ``>= P``. Then any infeasible assignment has
    energy ``>= min f + P > max f >= f(x*)`` for the best feasible ``x*``: every ground state of
    the penalised model is feasible and its energy is the constrained optimum (provided a
    feasible assignment exists at all). Soft terms such as :func:`load_balance` belong in
    ``objective``. The bound is safe, not tight; a smaller weight often works and can help
    heuristic solvers, but carries no guarantee.
    """
    if isinstance(objective, dimod.BinaryQuadraticModel):
        binary = (
            objective
            if objective.vartype is dimod.BINARY
            else objective.change_vartype(dimod.BINARY, inplace=False)
        )
    elif isinstance(objective, QuadraticViewsMixin):  # a QuadraticModel or a CQM's .objective
        binary = _qm_to_bqm(objective, "objective")
        if binary.vartype is dimod.SPIN:
            binary = binary.change_vartype(dimod.BINARY, inplace=False)
    else:
        raise InvalidProblem(
            f"objective: expected a dimod.BinaryQuadraticModel (or a CQM's .objective), got "
            f"{type(objective).__name__}."
        )
    linear, (_, _, quad), _ = binary.to_numpy_vectors()
    total = float(np.abs(linear).sum() + np.abs(quad).sum())
    if not math.isfinite(total):
        raise InvalidProblem(
            "objective: has a non-finite bias (NaN or inf); every bias must be a finite number."
        )
    return 1.0 + total


def _resolve_penalty(penalty: object, objective: dimod.BinaryQuadraticModel) -> float:
    if isinstance(penalty, str):
        if penalty != "auto":
            raise InvalidProblem(f"penalty: is {penalty!r}; pass 'auto' or a positive number.")
        return auto_penalty(objective)
    return _strength(penalty, "penalty")


# --------------------------------------------------------------------------- CQM -> BQM


def _qm_to_bqm(qm: QuadraticViewsMixin, where: str) -> dimod.BinaryQuadraticModel:
    vartypes = {qm.vartype(v) for v in qm.variables}
    if not vartypes <= {dimod.BINARY, dimod.SPIN}:
        names = sorted(vt.name for vt in vartypes)
        raise InvalidProblem(
            f"{where}: has {names} variables; only BINARY (or, without constraints, SPIN) "
            "variables are supported. Encode integers in binary first (dimod.Binary bits or "
            "dimod.generators.binary_encoding), or use dimod.cqm_to_bqm for integer models."
        )
    if len(vartypes) > 1:
        raise InvalidProblem(
            f"{where}: mixes BINARY and SPIN variables; declare them all BINARY "
            "(s = 2x - 1) so the model has one vartype."
        )
    vartype = vartypes.pop() if vartypes else dimod.BINARY
    bqm = dimod.BinaryQuadraticModel(vartype)
    bqm.add_variables_from((v, qm.get_linear(v)) for v in qm.variables)
    bqm.add_quadratic_from(qm.iter_quadratic())
    bqm.offset = qm.offset
    return bqm


def _integer_constraint(label: Hashable, lhs: Any, rhs: float) -> tuple[list, int, int]:
    """(terms, constant, rhs) of a linear constraint with integer data, else InvalidProblem."""
    where = f"constraint {label!r}"
    if not lhs.is_linear():
        raise InvalidProblem(
            f"{where}: is quadratic; only linear constraints can be penalised exactly. "
            "Move quadratic terms into the objective or linearise them with a product variable."
        )
    if lhs.is_soft():
        raise InvalidProblem(
            f"{where}: is soft (weight {lhs.weight()}); to_bqm handles hard constraints only. "
            "Add soft terms to the objective instead (e.g. qcore.constraints.load_balance)."
        )
    terms = [
        (v, check_integer(lhs.get_linear(v), f"{where}: coefficient of {v!r}"))
        for v in lhs.variables
    ]
    constant = check_integer(lhs.offset, f"{where}: constant term")
    bound = check_integer(rhs, f"{where}: right-hand side")
    return terms, constant, bound


def to_bqm(cqm: dimod.ConstrainedQuadraticModel, penalty: Penalty = "auto") -> dimod.BQM:
    """The penalised BQM of ``cqm``: objective + ``penalty`` * (each hard constraint)**2.

    Equivalent to ``dimod.cqm_to_bqm(cqm, lagrange_multiplier=penalty)[0]`` for BINARY
    models, with three differences that make it safe to hand to a solver: the default
    ``penalty="auto"`` is :func:`auto_penalty` of the objective (the optimum is then
    feasible), constraint data must be integers (else ``InvalidProblem`` says to scale them),
    and slack variables get stable names ``slack_<constraint label>_<j>``. Constraints that
    always hold are skipped; ones that can never hold raise ``InvalidProblem``. A CQM with
    SPIN variables and no constraints gives a SPIN BQM.
    """
    return _penalised(cqm, penalty)[0]


def _penalised(
    cqm: dimod.ConstrainedQuadraticModel, penalty: object
) -> tuple[dimod.BinaryQuadraticModel, float]:
    if not isinstance(cqm, dimod.ConstrainedQuadraticModel):
        raise InvalidProblem(
            f"cqm: expected a dimod.ConstrainedQuadraticModel, got {type(cqm).__name__}."
        )
    if len(cqm.variables) == 0:
        raise InvalidProblem("cqm: has no variables; add variables and an objective first.")
    vartypes = {cqm.vartype(v) for v in cqm.variables}
    if cqm.constraints and vartypes != {dimod.BINARY}:
        raise InvalidProblem(
            f"cqm: constraints need BINARY variables, found {sorted(vt.name for vt in vartypes)}"
            "; declare variables with dimod.Binary (or dimod.cqm_to_bqm for integer models)."
        )
    objective = _qm_to_bqm(cqm.objective, "cqm.objective")
    objective.add_variables_from((v, 0.0) for v in cqm.variables if v not in objective.variables)
    weight = _resolve_penalty(penalty, objective)
    bqm = objective.copy()
    for label, constraint in cqm.constraints.items():
        terms, constant, rhs = _integer_constraint(label, constraint.lhs, constraint.rhs)
        if constraint.sense is dimod.sym.Sense.Ge:  # a.x + c >= r  <=>  -a.x - c <= -r
            terms = [(v, -a) for v, a in terms]
            constant, rhs = -constant, -rhs
        low = constant + sum(a for _, a in terms if a < 0)
        high = constant + sum(a for _, a in terms if a > 0)
        equality = constraint.sense is dimod.sym.Sense.Eq
        if low > rhs or (equality and high < rhs):
            raise InvalidProblem(
                f"constraint {label!r}: can never hold (the left side ranges over "
                f"[{low}, {high}], the bound is {constraint.sense.value} {rhs}); fix the bound."
            )
        if equality:
            bqm.add_linear_equality_constraint(terms, weight, constant - rhs)
        elif high > rhs:  # else it always holds: nothing to add
            name = str(label)
            _check_slack_free(name, bqm.variables)
            bqm.add_linear_inequality_constraint(terms, weight, name, constant=constant, ub=rhs)
    return bqm, weight


# --------------------------------------------------------------------------- Problem / decode


@dataclass(frozen=True)
class Violation:
    """A constraint that a sample breaks, and by how much (``|lhs - rhs|`` beyond the bound)."""

    label: Hashable
    amount: float


@dataclass(frozen=True)
class Decoded:
    """A sample read back in the problem's own terms.

    ``sample``: the CQM's variables only (slack dropped). ``solution``: what the problem's
    ``interpret`` made of it (e.g. the cut, the colour per node). ``objective``: the CQM
    objective (the quantity minimised, before penalties). ``energy``: the penalised BQM's
    energy, or ``None`` when the slack variables were not given. ``violations``: every broken
    hard constraint; ``feasible`` is ``not violations``.
    """

    sample: dict[Hashable, int]
    solution: Any
    objective: float
    violations: list[Violation] = field(default_factory=list)
    feasible: bool = True
    energy: float | None = None


@dataclass(frozen=True)
class Problem:
    """A constrained formulation: the CQM that states it and the penalised BQM solvers see.

    ``bqm`` is ``to_bqm(cqm, penalty)``; ``interpret`` maps a sample over the CQM's variables
    to the domain answer (``None``: the sample itself). Build one with :meth:`from_cqm`.

    >>> import dimod
    >>> cqm = dimod.ConstrainedQuadraticModel()
    >>> cqm.set_objective(dimod.Binary("a") + 2 * dimod.Binary("b") + 3 * dimod.Binary("c"))
    >>> cqm.add_constraint(dimod.Binary("a") + dimod.Binary("b") + dimod.Binary("c") >= 2,
    ...                    label="two")
    'two'
    >>> problem = Problem.from_cqm(cqm)
    >>> best = problem.decode(dimod.ExactSolver().sample(problem.bqm))
    >>> best.sample, best.objective, best.feasible
    ({'a': 1, 'b': 1, 'c': 0}, 3.0, True)
    """

    bqm: dimod.BinaryQuadraticModel
    cqm: dimod.ConstrainedQuadraticModel
    penalty: float
    interpret: Callable[[dict[Hashable, int]], Any] | None = None
    name: str = ""

    @classmethod
    def from_cqm(
        cls,
        cqm: dimod.ConstrainedQuadraticModel,
        penalty: Penalty = "auto",
        interpret: Callable[[dict[Hashable, int]], Any] | None = None,
        name: str = "",
    ) -> Problem:
        """Penalise ``cqm`` (``penalty="auto"``: :func:`auto_penalty`, feasible optimum)."""
        if interpret is not None and not callable(interpret):
            raise InvalidProblem(
                f"interpret: expected a callable sample -> solution, got "
                f"{type(interpret).__name__}."
            )
        bqm, weight = _penalised(cqm, penalty)
        return cls(bqm=bqm, cqm=cqm, penalty=weight, interpret=interpret, name=name)

    def decode(self, sample_or_sampleset: object) -> Decoded:
        """Decode one sample (of a ``SampleSet`` or ``qcore.solve`` result: the lowest-energy)."""
        return self._decode(_one_sample(sample_or_sampleset))

    def decode_all(self, sampleset: dimod.SampleSet) -> list[Decoded]:
        """Decode every sample of a ``SampleSet`` or ``qcore.solve`` result, lowest energy first."""
        sampleset = getattr(sampleset, "sampleset", sampleset)
        if not isinstance(sampleset, dimod.SampleSet):
            raise InvalidProblem(
                f"sampleset: expected a dimod.SampleSet, got {type(sampleset).__name__}."
            )
        return [self._decode(dict(s.sample)) for s in sampleset.data(sorted_by="energy")]

    def _decode(self, sample: Mapping[Hashable, Any]) -> Decoded:
        missing = [v for v in self.cqm.variables if v not in sample]
        if missing:
            raise InvalidProblem(
                f"sample: lacks {len(missing)} of the problem's variables (e.g. {missing[:3]!r}); "
                "pass a sample of problem.bqm (a solver's output)."
            )
        allowed = {-1, 1} if self.bqm.vartype is dimod.SPIN else {0, 1}
        own: dict[Hashable, int] = {}
        for v in self.cqm.variables:
            value = sample[v]
            if value not in allowed:
                raise InvalidProblem(
                    f"sample[{v!r}]: is {value!r}; the problem's variables are "
                    f"{self.bqm.vartype.name} (values {sorted(allowed)})."
                )
            own[v] = int(value)
        amounts = self.cqm.violations(own, clip=True) if self.cqm.constraints else {}
        violations = [
            Violation(label, float(amount))
            for label, amount in amounts.items()
            if amount > FEASIBILITY_TOL
        ]
        energy = None
        if all(v in sample for v in self.bqm.variables):
            energy = float(self.bqm.energy({v: sample[v] for v in self.bqm.variables}))
        solution = self.interpret(dict(own)) if self.interpret is not None else dict(own)
        return Decoded(
            sample=own,
            solution=solution,
            objective=float(self.cqm.objective.energy(own)),
            violations=violations,
            feasible=not violations,
            energy=energy,
        )


def _one_sample(obj: object) -> Mapping[Hashable, Any]:
    obj = getattr(obj, "sampleset", obj)  # a qcore.solve result
    if isinstance(obj, dimod.SampleSet):
        if len(obj) == 0:
            raise InvalidProblem("sampleset: is empty; there is no sample to decode.")
        return dict(obj.first.sample)
    if isinstance(obj, Mapping):
        return obj
    raise InvalidProblem(
        f"sample: expected a mapping variable -> value, a dimod.SampleSet or a qcore.solve "
        f"result, got {type(obj).__name__}."
    )
