"""The result of a check: one verdict, per-configuration tables, first-mismatch location, provenance.

``Report.text()`` renders it for people, ``Report.to_json()`` gives the same
data for machines (per-step error series included, for plotting later).
Exit status: 0 replica under the requested standard, 1 not a replica (a
proven difference in any configuration), 2 could not be checked (nothing
proven different, and the candidate failed to load, to run, or to finish in time).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from lstm_replica.parity.compare import MEANINGFUL_ULPS, Difference, meaningful_ulps
from lstm_replica.parity.envelope import Envelope, envelope
from lstm_replica.parity.results import COMPARED, FOLDED_PROBE, LEAF_GRADS, ConfigResult, Kind, Stop, gradient_of


@dataclass
class Report:
    candidate: str
    kind: Kind | Literal["?"]  # "?": not known yet (the candidate did not load)
    reference: str
    standard: Literal["bitwise", "tolerance"]
    provenance: dict[str, str]
    tolerances: dict[str, dict[str, object]] = field(default_factory=dict)
    results: list[ConfigResult] = field(default_factory=list)
    error: str | None = None  # why the candidate could not be checked at all
    traceback: str | None = None
    not_run: list[str] = field(default_factory=list)  # configurations left when the run stopped early
    stopped: Stop = ""  # why the run stopped early ("": it did not)
    unsupported: list[str] = field(default_factory=list)  # features the candidate declared it lacks
    not_compared: dict[str, str] = field(default_factory=dict)  # feature -> why this backend cannot compare it
    why_unsupported: dict[str, str] = field(default_factory=dict)  # feature -> why, where the harness found out
    diagnosis: str = ""  # rounding or defect, from a float64 rerun (see diagnose.py); "" when bitwise
    matrix: Literal["default", "thorough", "quick"] = "default"  # "quick": a screen, not a certificate
    envelope: Envelope = field(default_factory=Envelope)  # what the verdict covers (see envelope.py)
    ruled_out: list[str] = field(default_factory=list)  # every feature the configurations were chosen without

    def close_envelope(self) -> None:
        """The envelope of the configurations compared (results that are not errors or not applicable)."""
        compared = [r.config for r in self.results if r.status in COMPARED]
        self.envelope = envelope(compared, frozenset(self.ruled_out))

    @property
    def checked(self) -> list[ConfigResult]:
        return [r for r in self.results if r.status != "not applicable"]

    @property
    def exit_status(self) -> int:
        if self.error is not None:
            return 2
        if any(r.status == "different" for r in self.results):
            return 1
        if any(r.status == "error" for r in self.results) or not self.checked:
            return 2
        return 0

    @property
    def bitwise(self) -> bool:
        return self.exit_status == 0 and all(r.status == "bitwise" for r in self.checked)

    @property
    def verdict(self) -> str:
        status = self.exit_status
        n = len(self.checked)
        if status == 2:
            return f"COULD NOT BE CHECKED: {self.unchecked_reason}"
        if status == 1:
            bad = [r for r in self.results if r.status == "different"]
            first = bad[0]
            where = first.location.describe() if first.location else first.reason
            if first.location is not None and first.reason:
                where += f" [{first.reason}]"
            errors = sum(r.status == "error" for r in self.results)
            unchecked = f"; {errors} could not be checked" if errors else ""
            return f"NOT A REPLICA: {len(bad)}/{n} configurations differ{unchecked}; first in {first.name}: {where}"
        scope = f"; not supported by the candidate: {', '.join(self.unsupported)}" if self.unsupported else ""
        if self.not_compared:
            scope += f"; not compared on this backend: {', '.join(self.not_compared)} (see the notes)"
        if any(key.startswith(FOLDED_PROBE) for r in self.checked for key in r.skipped):
            scope += "; not compared: initial and trained bias values (one bias per gate, b_ih + b_hh folded)"
        if self.matrix == "quick":
            found = "bitwise identical" if self.bitwise else "within the stated tolerances (not bitwise)"
            return (
                f"QUICK SCREEN: {found} to {self.reference} in {n} configurations{scope} "
                "- not a certificate (run without --quick for one)"
            )
        if self.bitwise:
            return f"REPLICA: bitwise identical to {self.reference} in all {n} configurations{self._of_envelope}{scope}"
        ulps = max((d.max_ulps for r in self.checked for d in r.differences), default=0.0)
        apart = f", at most {ulps:.0f} ulps apart" if ulps <= MEANINGFUL_ULPS else ""
        return (
            f"REPLICA WITHIN TOLERANCE (not bitwise): within the stated tolerances of {self.reference} "
            f"in all {n} configurations{self._of_envelope}{apart}{scope}"
        )

    @property
    def _of_envelope(self) -> str:
        return " (the envelope above)" if self.envelope.configurations else ""

    @property
    def unchecked_reason(self) -> str:
        """Why the candidate could not be checked: the load error, or the first configuration's error."""
        if self.error is not None:
            return self.error
        failed = next((r for r in self.results if r.status == "error"), None)
        if failed is None:
            return "no configuration applies to this candidate"
        return f"{failed.reason} in configuration {failed.name}"

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"schema_version": SCHEMA_VERSION}
        for key, value in asdict(self).items():
            # schema 3's fields that are now derived, in their places: a quick screen, and a per-result list the
            # parameter map leaves empty
            data |= {"quick": self.matrix == "quick"} if key == "matrix" else {}
            data[key] = [_with_uncompared(r) for r in value] if key == "results" else value
        data["verdict"] = self.verdict
        data["exit_status"] = self.exit_status
        return data

    def text(self, verbose: bool = False) -> str:
        """The report for people; ``verbose`` lists every parameter row (the traceback is the caller's to show)."""
        lines = [f"lstm-replica check: {self.candidate} ({self.kind}) against {self.reference}"]
        lines += ["  " + " | ".join(f"{k} {v}" for k, v in self.provenance.items())]
        if self.standard == "tolerance":
            lines += [
                f"  tolerance {k}: rtol {v['rtol']:g}, atol {v['atol']:g}: {v['why']}"
                for k, v in self.tolerances.items()
            ]
        lines += [f"  not compared on this backend: {feature}: {why}" for feature, why in self.not_compared.items()]
        lines += [
            f"  not supported by the candidate: {feature}: {why}" for feature, why in self.why_unsupported.items()
        ]
        if self.kind == "cell":
            lines.append(
                "  whole sequences: the cell and nn.LSTMCell each driven by the replica's layer machinery, "
                "so only the cell differs; single steps: the cell against nn.LSTMCell, teacher-forced"
            )
        if self.results:
            lines.append("")
            lines.append(
                f"{'configuration':<60} {'tensor':<24} {'bitwise':<8} {'max abs':>9} {'max rel':>9} {'ulps':>8}"
            )
        for result in self.results:
            lines += _config_lines(result, verbose)
        if self.not_run:
            lines.append(f"not run {self.stopped} ({len(self.not_run)}): {', '.join(self.not_run)}")
        lines += ["", legend()]
        if self.diagnosis:
            lines += ["", self.diagnosis]
        if self.envelope.lines():
            lines += ["", *self.envelope.lines()]
        lines += ["", f"VERDICT: {self.verdict}"]
        return "\n".join(lines)


SCHEMA_VERSION = 3  # of --json: fields are only ever added; docs/checking.md, "The JSON report", lists them


def _ulps(value: float, spec: str) -> str:
    """An ulps figure as shown: formatted with ``spec`` where it means something, else '-' (the legend's rule)."""
    shown = meaningful_ulps(value)
    return "-" if shown is None else format(shown, spec)


def _row(config: str, tensor: str, bitwise: str, d: Difference | None) -> str:
    ulps = f"{_ulps(d.max_ulps, '.3g') if d else '-':>8}"
    numbers = f"{d.max_abs:>9.2g} {d.max_rel:>9.2g} {ulps}" if d else ""
    if d and d.elements and not d.bitwise:
        numbers += f"  {d.mismatched}/{d.elements} ({100 * d.mismatched / d.elements:.3g}%)"
        if not d.within_tolerance and d.worst_index is not None and d.max_abs != float("inf"):
            numbers += f", worst at {list(d.worst_index)}, allowed {d.allowed:.2g}"
    return f"{config:<60} {tensor:<24} {bitwise:<8} {numbers}".rstrip()


def _with_uncompared(result: dict[str, object]) -> dict[str, object]:
    """A result's JSON with schema 3's ``uncompared`` (always empty) after ``cell_errors``, where it was."""
    data: dict[str, object] = {}
    for key, value in result.items():
        data[key] = value
        data |= {"uncompared": []} if key == "cell_errors" else {}
    return data


def legend() -> str:
    """The report's legend; the probes are named in :data:`lstm_replica.parity.probes.PROBES`' words."""
    from lstm_replica.parity.probes import PROBES  # the registry runs probes: loaded when a report is printed

    probes = ", ".join(p.legend for p in PROBES if p.legend)
    return (
        "bitwise: yes = torch.equal; no, tol = not bitwise, within the stated tolerance; NO = beyond it or not "
        f"comparable. Rows without a probe are call 1 (default weights); the other probes: {probes}. "
        "Real-size configurations: call 1 only (see the envelope). "
        "ulps: '-' where the values are too far apart (or on both sides of zero) for ulps to mean anything. "
        "k/n (p%): elements not bitwise equal; worst at [index], allowed: where the greatest difference is and "
        "the tolerance there. "
        "'!': a failed check or parameter-audit finding; '-': a probe not run, and why."
    )


MAX_PROBE_ROWS = 12


def _config_lines(result: ConfigResult, verbose: bool) -> list[str]:
    stopped = not result.differences and result.reason  # "different" before comparing: a wrongly shaped cell state
    if result.status in ("not applicable", "error") or stopped:
        return [_row(result.name, result.status, "", None) + f"  {result.reason}"]
    lines, label = [], result.name
    bitwise_params = []
    first_call = [d for d in result.differences if not d.probe]
    probed = [d for d in result.differences if d.probe]
    for d in first_call:
        if gradient_of(d.tensor) is not None and d.tensor not in LEAF_GRADS and d.bitwise:
            bitwise_params.append(d)
            continue
        lines.append(_row(label, d.tensor + (f" [{d.note}]" if d.note else ""), _mark(d), d))
        label = ""
    if bitwise_params and not verbose:
        lines.append(_row(label, f"grad params ({len(bitwise_params)})", "yes", bitwise_params[0]))
    elif verbose:
        lines += [_row("", d.tensor, "yes", d) for d in bitwise_params]
    shown = [d for d in probed if verbose or not d.bitwise]
    quiet = [d for d in probed if d not in shown]
    if quiet:
        probes = len(dict.fromkeys(d.probe for d in quiet))
        worst = max(quiet, key=lambda d: d.max_abs)
        lines.append(_row("", f"{probes} probes ({len(quiet)} tensors)", "yes", worst))
    for d in shown[: None if verbose else MAX_PROBE_ROWS]:
        lines.append(_row("", f"{d.probe}: {d.tensor}" + (f" [{d.note}]" if d.note else ""), _mark(d), d))
    if len(shown) > MAX_PROBE_ROWS and not verbose:
        lines.append(f"{'':<60} ... {len(shown) - MAX_PROBE_ROWS} more rows (--verbose lists them)")
    lines += [f"{'':<60} ! {check} failed" for check, ok in result.checks.items() if not ok]
    lines += [f"{'':<60} ! {problem}" for problem in result.audit]
    lines += [f"{'':<60} - {probe} not run: {why}" for probe, why in result.skipped.items()]
    if result.repeatability:
        lines.append(f"{'':<60} run to run: two identical calls differ by up to {result.repeatability:.2g}")
    if result.cell_errors:
        e = result.cell_errors
        lines.append(
            f"{'':<60} cell error: single step (teacher-forced) max abs {e['single_step_max_abs']:.2g} "
            f"/ {_ulps(e['single_step_max_ulps'], '.0f')} ulps; accumulated over {result.config['steps']} steps "
            f"max abs {e['accumulated_max_abs']:.2g} / {_ulps(e['accumulated_max_ulps'], '.0f')} ulps"
        )
    if result.location is not None:
        lines.append(f"{'':<60} first difference: {result.location.describe()}")
    return lines


def _mark(d: Difference) -> str:
    return "yes" if d.bitwise else ("no, tol" if d.within_tolerance else "NO")
