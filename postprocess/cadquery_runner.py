"""Child side of the CadQuery sandbox: `python -I cadquery_runner.py CODE_FILE`, run by `cadquery_sandbox`.

Runs in a fresh temporary directory under resource limits set by the parent. Sockets are disabled before the
generated code is compiled. Progress goes to `status.json` in the working directory, one stage at a time, so a
child killed for time or memory still tells how far it got. The code must leave its shape in `result`.
Standard library and cadquery only: this file is run by path, outside the package.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import traceback

STATUS = "status.json"


def write_status(**fields: object) -> None:
    with open(STATUS + ".tmp", "w", encoding="utf-8") as stream:
        json.dump(fields, stream)
    os.replace(STATUS + ".tmp", STATUS)


def disable_network() -> None:
    """Every way the standard library opens a socket raises; the parent also cuts the network namespace."""
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


def shape_of(result: object) -> object:
    """The cadquery Shape in `result` (a Workplane, a Shape, a Sketch-free Assembly)."""
    import cadquery as cq

    if isinstance(result, cq.Workplane):
        shapes = [value for value in result.vals() if isinstance(value, cq.Shape)]
        if not shapes:
            raise ValueError("`result` is a Workplane with no shape on its stack")
        return shapes[0] if len(shapes) == 1 else cq.Compound.makeCompound(shapes)
    if isinstance(result, cq.Assembly):
        return result.toCompound()
    if isinstance(result, cq.Shape):
        return result
    raise TypeError(f"`result` is a {type(result).__name__}, not a cadquery Workplane, Shape or Assembly")


def main(code_path: str) -> int:
    disable_network()
    with open(code_path, encoding="utf-8") as stream:
        code = stream.read()
    try:
        compiled = compile(code, "generated.py", "exec")
    except (SyntaxError, ValueError) as error:
        write_status(syntax_ok=False, ran=False, solid=False, error=f"{type(error).__name__}: {error}")
        return 0
    write_status(syntax_ok=True, ran=False, solid=False, error="killed while running (time or memory limit)")
    namespace: dict[str, object] = {"__name__": "__generated__"}
    try:
        # Running it is the point; the parent's limits contain it. SystemExit from the code is a failure too.
        exec(compiled, namespace)  # noqa: S102
    except BaseException:  # noqa: BLE001
        write_status(syntax_ok=True, ran=False, solid=False, error=last_error_line())
        return 0
    if "result" not in namespace:
        write_status(syntax_ok=True, ran=True, solid=False, error="the code defines no variable `result`")
        return 0
    write_status(syntax_ok=True, ran=True, solid=False, error="killed while exporting (time or memory limit)")
    try:
        import cadquery as cq

        shape = shape_of(namespace["result"])
        solids = shape.Solids()
        volume = sum(solid.Volume() for solid in solids)
        if not solids or volume <= 0 or not shape.isValid():
            write_status(syntax_ok=True, ran=True, solid=False, volume=volume,
                         error=f"no valid solid: {len(solids)} solid(s), volume {volume:g}, valid {shape.isValid()}")
            return 0
        cq.exporters.export(shape, "result.stl")
        cq.exporters.export(shape, "result.step")
    except BaseException:  # noqa: BLE001 - whatever cadquery raises is reported, not propagated
        write_status(syntax_ok=True, ran=True, solid=False, error=last_error_line())
        return 0
    write_status(syntax_ok=True, ran=True, solid=True, volume=volume, error=None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
