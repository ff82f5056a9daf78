"""A custom import-linter contract (registered in pyproject.toml): `at_most_one`.

"No module in `ivr/` but the composition root imports more than one of telephony, dialogs, slots,
ivr.speech" is a rule on each module's own imports that the built-in contract types cannot state:
`forbidden` and `protected` forbid single packages, never a combination of them.
"""

from __future__ import annotations

import grimp
from importlinter import Contract, ContractCheck, fields, output
from importlinter.application import contract_utils


class AtMostOneContract(Contract):
    """Every module under `containers` (except `allowed` and the `packages` themselves) imports
    directly from at most one of `packages`; `ignore_imports` drops single imports first."""

    type_name = "at_most_one"

    containers = fields.ListField(subfield=fields.ModuleField())
    packages = fields.ListField(subfield=fields.ModuleField())
    allowed = fields.ListField(subfield=fields.ModuleField(), required=False, default=[])
    ignore_imports = fields.SetField(subfield=fields.ImportExpressionField(), required=False)
    unmatched_ignore_imports_alerting = fields.EnumField(
        contract_utils.AlertLevel, default=contract_utils.AlertLevel.ERROR)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        removal = contract_utils.remove_ignored_imports_and_report(
            graph=graph, ignore_imports=self.ignore_imports,  # type: ignore[arg-type]
            unmatched_alerting=self.unmatched_ignore_imports_alerting)  # type: ignore[arg-type]
        packages = [package.name for package in self.packages]  # type: ignore[attr-defined]
        exempt = [module.name for module in self.allowed] + packages  # type: ignore[attr-defined]
        containers = [module.name for module in self.containers]  # type: ignore[attr-defined]
        broken = []
        for module in sorted(graph.modules):
            if not _within(module, containers) or _within(module, exempt):
                continue
            imported = graph.find_modules_directly_imported_by(module)
            reached = {package: sorted(name for name in imported if _within(name, [package])) for package in packages}
            reached = {package: names for package, names in reached.items() if names}
            if len(reached) > 1:
                broken.append((module, reached))
        return ContractCheck(kept=not broken, warnings=list(removal.warnings),
                             ignored_import_count=removal.ignored_import_count, metadata={"broken": broken})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for module, reached in check.metadata["broken"]:
            names = "; ".join(", ".join(names) for names in reached.values())
            output.print_error(f"{module} imports from {len(reached)} of them: {names}", bold=False)
            output.new_line()


def _within(module: str, parents: list[str]) -> bool:
    return any(module == parent or module.startswith(parent + ".") for parent in parents)
