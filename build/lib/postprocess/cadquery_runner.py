"""Child side of the CadQuery sandbox, run by `cadquery_sandbox` inside bubblewrap with `python -I`.

    cadquery_runner.py run CODE_FILE [RESULT_VAR]   run generated code, leave its shape in shape.brep
    cadquery_runner.py check BREP_FILE              (trusted, in a second sandbox) check that shape, export it

`run` executes untrusted code in this same process, so everything it writes (status.json, shape.brep) can be
forged: status.json only explains a failure, and the parent believes a solid only from `check`, which runs no
generated code and answers on its stdout, a pipe the first sandbox never sees.
Standard library and cadquery only: this file is run by path, outside the package.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import traceback

STATUS = "status.json"
SHAPE = "shape.brep"
# Where the shape is looked for when no --result-var is given: these top-level names in this order (`result` as
# CadQuery's examples, `solid` as GenCAD-Code / DeepCAD, `r` as CAD-Recode), then show_object() as CQ-editor.
NAMES = ("result", "solid", "r")
LOOKED_FOR = "variables `result`, `solid`, `r`, then show_object(…)"


def write_status(stage: str, **fields: object) -> None:
    with open(STATUS + ".tmp", "w", encoding="utf-8") as stream:
        json.dump({"stage": stage, **fields}, stream)
    os.replace(STATUS + ".tmp", STATUS)


def disable_network() -> None:
    """Every way the standard library opens a socket raises; the sandbox also has no network namespace."""
    import _socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network access is disabled in the CadQuery sandbox")

    class NoSocket:
        def __init__(self, *args: object, **kwargs: object) -> None:
            refuse()

    for module in (socket, _socket):
        module.socket = NoSocket  # type: ignore[assignment,misc]
    for name in ("create_connection", "create_server", "socketpair", "fromfd", "getaddrinfo"):
        setattr(socket, name, refuse)


def last_error_line() -> str:
    lines = traceback.format_exc().strip().splitlines()
    return lines[-1][:500] if lines else "unknown error"


def shape_of(value: object, label: str) -> object:
    """The cadquery Shape held by `value` (a Workplane, a Shape, an Assembly)."""
    import cadquery as cq

    if isinstance(value, cq.Workplane):
        shapes = [item for item in value.vals() if isinstance(item, cq.Shape)]
        if not shapes:
            raise ValueError(f"{label} is a Workplane with no shape on its stack")
        return shapes[0] if len(shapes) == 1 else cq.Compound.makeCompound(shapes)
    if isinstance(value, cq.Assembly):
        return value.toCompound()
    if isinstance(value, cq.Shape):
        return value
    raise TypeError(f"{label} is a {type(value).__name__}, not a cadquery Workplane, Shape or Assembly")


def is_cadquery(value: object) -> bool:
    import cadquery as cq

    return isinstance(value, (cq.Workplane, cq.Shape, cq.Assembly))


def find_shape(namespace: dict[str, object], shown: list[object], result_var: str | None) -> tuple[object, str]:
    """(shape, the convention that named it); ValueError/TypeError saying what was looked for otherwise."""
    import cadquery as cq

    if result_var:
        if result_var not in namespace:
            raise ValueError(f"the code defines no variable `{result_var}` (--result-var)")
        return shape_of(namespace[result_var], f"`{result_var}`"), result_var
    for name in NAMES:
        if name in namespace and is_cadquery(namespace[name]):
            return shape_of(namespace[name], f"`{name}`"), name
    if shown:
        shapes = [shape_of(value, "the object given to show_object") for value in shown]
        return (shapes[0] if len(shapes) == 1 else cq.Compound.makeCompound(shapes)), "show_object"
    candidates = [name for name, value in namespace.items()
                  if not name.startswith("_") and is_cadquery(value) and _holds_shape(value)]
    if len(candidates) == 1:
        return shape_of(namespace[candidates[0]], f"`{candidates[0]}`"), f"only shape `{candidates[0]}`"
    found = f"; it builds {len(candidates)} shapes ({', '.join(candidates[:10])}) and names none" if candidates else ""
    raise ValueError(f"no shape found: looked for --result-var, {LOOKED_FOR}{found}")


def _holds_shape(value: object) -> bool:
    try:
        shape_of(value, "")
    except (TypeError, ValueError):
        return False
    return True


def run(code_path: str, result_var: str | None) -> int:
    disable_network()
    with open(code_path, encoding="utf-8-sig") as stream:
        code = stream.read()
    # The parent compiled the code already (syntax_ok is its verdict); this only re-raises for a clear message.
    try:
        compiled = compile(code, "generated.py", "exec")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as error:
        write_status("syntax", error=f"{type(error).__name__}: {error}")
        return 0
    write_status("running")
    shown: list[object] = []

    def show_object(shape: object, *args: object, **kwargs: object) -> None:
        shown.append(shape)

    def ignore(*args: object, **kwargs: object) -> None:
        return None

    namespace: dict[str, object] = {"__name__": "__generated__", "show_object": show_object, "debug": ignore,
                                    "log": ignore}
    try:
        exec(compiled, namespace)  # noqa: S102 - running it is the point; the sandbox contains it
    except BaseException:  # noqa: BLE001 - SystemExit from the code is a failure too
        write_status("raised", error=last_error_line())
        return 0
    write_status("finding the shape")
    try:
        shape, convention = find_shape(namespace, shown, result_var)
    except BaseException:  # noqa: BLE001
        write_status("no shape", error=last_error_line().split(": ", 1)[-1])
        return 0
    write_status("exporting", convention=convention)
    try:
        solids = shape.Solids()
        volume = sum(solid.Volume() for solid in solids)
        if not solids or volume <= 0 or not shape.isValid():  # said here to spare the check; proven only there
            write_status("no shape", convention=convention,
                         error=f"no valid solid: {len(solids)} solid(s), volume {volume:g}, valid {shape.isValid()}")
            return 0
        shape.exportBrep(SHAPE)
    except BaseException:  # noqa: BLE001
        write_status("export failed", convention=convention, error=last_error_line())
        return 0
    write_status("done", convention=convention)
    return 0


def check(brep_path: str) -> int:
    """Load the BREP, count its solids, check it, export STL and STEP; the verdict goes to the original stdout.

    OCP (OpenCASCADE) directly rather than cadquery: importing cadquery takes twice as long, per shape."""
    verdict = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # what OCCT prints goes to the log, not into the verdict
    answer: dict[str, object]
    try:
        from OCP.Bnd import Bnd_Box
        from OCP.BRep import BRep_Builder
        from OCP.BRepBndLib import BRepBndLib
        from OCP.BRepCheck import BRepCheck_Analyzer
        from OCP.BRepGProp import BRepGProp
        from OCP.BRepMesh import BRepMesh_IncrementalMesh
        from OCP.BRepTools import BRepTools
        from OCP.GProp import GProp_GProps
        from OCP.STEPControl import STEPControl_AsIs, STEPControl_Writer
        from OCP.StlAPI import StlAPI_Writer
        from OCP.TopAbs import TopAbs_SOLID
        from OCP.TopExp import TopExp_Explorer
        from OCP.TopoDS import TopoDS_Shape

        shape = TopoDS_Shape()
        if not BRepTools.Read_s(shape, brep_path, BRep_Builder()):
            raise ValueError("not a BREP file")
        volume, solids = 0.0, 0
        explorer = TopExp_Explorer(shape, TopAbs_SOLID)
        while explorer.More():
            properties = GProp_GProps()
            BRepGProp.VolumeProperties_s(explorer.Current(), properties)
            volume += properties.Mass()
            solids += 1
            explorer.Next()
        valid = solids > 0 and BRepCheck_Analyzer(shape).IsValid()
        answer = {"solids": solids, "volume": volume, "valid": valid}
        if valid and volume > 0:
            box = Bnd_Box()
            BRepBndLib.Add_s(shape, box)
            # Facets within 1/1000 of the part's diagonal: the datasets' scales differ by 100x (GenCAD-Code ~1).
            BRepMesh_IncrementalMesh(shape, 1e-3 * (box.SquareExtent() ** 0.5), False, 0.1, True)
            stl = StlAPI_Writer()
            stl.ASCIIMode = False
            if not stl.Write(shape, "shape.stl"):
                raise OSError("STL export failed")
            step = STEPControl_Writer()
            step.Transfer(shape, STEPControl_AsIs)
            if step.Write("shape.step") != 1:  # IFSelect_RetDone
                raise OSError("STEP export failed")
    except BaseException:  # noqa: BLE001
        answer = {"error": last_error_line()}
    verdict.write(json.dumps(answer))
    verdict.close()
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "run":
        sys.exit(run(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
    sys.exit(check(sys.argv[2]))
